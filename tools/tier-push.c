/* tier-push: one new revision holding a snapshot of the given paths. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tier/config.h"

#include "exitcodes.h"
#include "hooks.h"
#include "isotime.h"
#include "opt.h"
#include "output.h"
#include "session.h"

static int opt_reread;
static unsigned int opt_threads;
static unsigned int opt_pack_kib;
static uint64_t opt_wait_timeout; /* ms */
static int opt_wait_timeout_seen;
static struct tool_list opt_tags;
static const char *opt_message;
static const char *opt_time;
static struct tool_list opt_exclude, opt_exclude_file, opt_if_present;
static int opt_exclude_caches, opt_one_fs;
static const char *opt_larger_than;
static uint64_t opt_larger_bytes;

/* The progress line's totals: those of the newest push of the same paths
 * (its Tier-Files and Tier-Bytes), an estimate as a scan would be; none
 * for a first push or other paths, which then shows only a rate. */
static tool_meter g_meter;
static int g_have_estimate;

/* the --pack-size help says the library's default in KiB */
_Static_assert(TIER_DEFAULT_PACK_SIZE == 16384u * 1024,
               "--pack-size help: default 16384 KiB");

static const struct tool_opt options[] = {
        TOOL_FLAG(
                0, "reread", &opt_reread,
                "read every file, even those whose size, times and inode are unchanged"),
        TOOL_UINT(0, "threads", "N", &opt_threads, 1, 16,
                  "worker threads (default: one per CPU)"),
        TOOL_UINT(0, "pack-size", "KIB", &opt_pack_kib, 64, 4194303,
                  "close each data pack at about KIB KiB (default 16384); "
                  "smaller packs resend less after an interruption"),
        {TOOL_OPT_DURATION_S, 0, "wait-timeout", "DURATION",
         "when no tier can take the push, wait at most this long for one, e.g. 90s or 2h; a "
         "bare number is seconds (default: wait for ever); exit 75 when it runs out",
         &opt_wait_timeout, 0, INT64_MAX, &opt_wait_timeout_seen},
        TOOL_LIST(0, "tag", "TAG", &opt_tags,
                  "record TAG in the revision (repeatable; no space or "
                  "comma); tier-log --tag finds it"),
        TOOL_STRING(0, "message", "TEXT", &opt_message,
                    "record a one-line description in the revision"),
        TOOL_STRING(0, "time", "TIME", &opt_time,
                    "record TIME (ISO 8601: 2026-12-04T10:30:00Z, "
                    "2026-12-04 10:30 in local time) as the revision's "
                    "time instead of now"),
        TOOL_LIST('e', "exclude", "PATTERN", &opt_exclude,
                  "leave out what matches this gitignore-style PATTERN, "
                  "matched below each PATH (docs/excludes.md); repeatable"),
        TOOL_LIST(0, "exclude-file", "FILE", &opt_exclude_file,
                  "leave out what matches the patterns of FILE, one a line "
                  "('#' starts a comment); repeatable"),
        TOOL_LIST(0, "exclude-if-present", "NAME[:HEADER]", &opt_if_present,
                  "leave out every directory holding a file NAME (starting "
                  "with HEADER when given; CACHEDIR.TAG only with its "
                  "standard signature); repeatable"),
        TOOL_FLAG(0, "exclude-caches", &opt_exclude_caches,
                  "leave out directories holding a valid CACHEDIR.TAG (= "
                  "--exclude-if-present CACHEDIR.TAG)"),
        TOOL_STRING(0, "exclude-larger-than", "SIZE", &opt_larger_than,
                    "leave out regular files larger than SIZE (bytes, or "
                    "with a K, M, G or T suffix: 1024-based)"),
        TOOL_FLAG('x', "one-file-system", &opt_one_fs,
                  "do not cross mount points: what lies on none of the "
                  "PATHs' file systems is left out, a mount point kept "
                  "as an empty directory"),
        TOOL_LIMIT_OPTS,
        TOOL_OPTS_END};

static const struct tool_exit_doc exits[] = {
        {TOOL_EXIT_ERROR,
         "error; also: none of the PATHs could be read (no revision)"},
        {TOOL_EXIT_FOREIGN, NULL},
        {TOOL_EXIT_ROLLEDBACK, NULL},
        {TOOL_EXIT_INTERRUPTED, NULL},
        {TOOL_EXIT_PARTIAL,
         "the revision was written, but some source files could not be read "
         "(named on stderr and in --json)"},
        {TOOL_EXIT_TIMEOUT, NULL},
        TOOL_EXITS_END};

static const struct tool_def def = {
        .name = "tier-push",
        .args = "[PATH...]",
        .description =
                "Back up PATHs as one new revision on every online, synchronised tier of the "
                "installation, and print the revision on stdout.  Tiers that are offline or "
                "behind are skipped and reported; the push succeeds when one tier took it.  "
                "With no PATH it backs up the config's push.path list.",
        .options = options,
        .min_args = 0,
        .max_args = TOOL_ARGS_MANY,
        .exits = exits,
};

/* Every non-directory entry is a file (docs/glossary.md). */
static uint64_t files_of(const tier_push_stats *s)
{
	return s->files + s->others;
}

static int on_progress(const tier_push_stats *s, const char *current,
                       void *payload)
{
	char a[32], b[32], r[48];
	(void)payload;
	if (!tool_progress_enabled())
		return tool_interrupted(); /* nothing drawn: read nothing */
	const char *path = current ? tool_q(current) : "";
	if (g_have_estimate) {
		tool_progress("%s, %s new  %s",
		              tool_meter_text(&g_meter, s->bytes, files_of(s)),
		              tool_size(s->new_bytes, b), path);
		return tool_interrupted();
	}
	/* no rate in the first second: it would say nothing yet */
	uint64_t rate = tool_meter_rate(&g_meter, s->read_bytes);
	if (rate)
		snprintf(r, sizeof(r), " (%s/s)", tool_size(rate, a));
	else
		r[0] = '\0';
	tool_progress("%s, %s read%s, %s new  %s",
	              tool_count(files_of(s), "file", NULL),
	              tool_size(s->read_bytes, a), r,
	              tool_size(s->new_bytes, b), path);
	return tool_interrupted();
}

/* Whether the lists name the same paths (both resolved here). */
static int same_paths(char **rec, size_t nrec, const char *const *given,
                      size_t ngiven)
{
	char x[PATH_MAX], y[PATH_MAX];
	if (nrec != ngiven)
		return 0;
	for (size_t i = 0; i < ngiven; i++)
		if (!realpath(given[i], x) || !realpath(rec[i], y) ||
		    strcmp(x, y) != 0)
			return 0;
	return 1;
}

/* The totals of the newest of the last pushes that named the same paths. */
static void start_meter(tier_vault *v, const char *const *paths, size_t n)
{
	tier_log_entry *e = NULL;
	size_t count = 0;
	tool_meter_start(&g_meter, 0, 0);
	g_have_estimate = 0;
	if (!tool_progress_enabled() || tier_vault_log(&e, &count, v, 20) < 0)
		return;
	for (size_t i = 0; i < count && !g_have_estimate; i++) {
		char **rec = NULL;
		size_t nrec = 0;
		if (strcmp(e[i].op, "push") != 0 || e[i].files < 0 ||
		    e[i].bytes < 0 ||
		    tier_vault_revision_paths(&rec, &nrec, v, e[i].commit) < 0)
			continue;
		if (same_paths(rec, nrec, paths, n)) {
			tool_meter_start(&g_meter, (uint64_t)e[i].bytes,
			                 (uint64_t)e[i].files);
			g_have_estimate = 1;
		}
		tier_strings_free(rec);
	}
	free(e);
}

static void on_warning(const char *msg, void *payload)
{
	(void)payload;
	tool_warning("%s", msg);
}

/* -vv: each entry the excludes leave out, and why. */
static void on_excluded(const char *path, const char *why, void *payload)
{
	(void)payload;
	tool_verbose(2, "excluded '%s' (%s)", tool_q(path), why);
}

/* Each path left out, for --json (the warning callback prints it). */
static void on_unreadable(const char *path, const char *error, void *payload)
{
	json_t *list = payload, *o = json_object();
	/* "path", and "path_b64" when it is not UTF-8 (docs/json.md) */
	tool_json_set_name(o, "path", path);
	json_object_set_new(o, "error", tool_json_text(error));
	json_array_append_new(list, o);
}

static json_t *stats_json(const tier_push_stats *s)
{
	tool_stats j;
	tool_stats_init(&j);
	j.v[TOOL_STAT_FILES] = (int64_t)files_of(s);
	j.v[TOOL_STAT_DIRS] = (int64_t)s->dirs;
	j.v[TOOL_STAT_OTHERS] = (int64_t)s->others;
	j.v[TOOL_STAT_BYTES] = (int64_t)s->bytes;
	j.v[TOOL_STAT_UNCHANGED_FILES] = (int64_t)s->unchanged_files;
	j.v[TOOL_STAT_READ_BYTES] = (int64_t)s->read_bytes;
	j.v[TOOL_STAT_CHUNKS] = (int64_t)s->chunks;
	j.v[TOOL_STAT_NEW_CHUNKS] = (int64_t)s->new_chunks;
	j.v[TOOL_STAT_NEW_BYTES] = (int64_t)s->new_bytes;
	j.v[TOOL_STAT_STORED_BYTES] = (int64_t)s->stored_bytes;
	j.v[TOOL_STAT_PACKS] = (int64_t)s->packs;
	j.v[TOOL_STAT_ERRORS] = (int64_t)s->errors;
	j.v[TOOL_STAT_CHANGED] = (int64_t)s->changed;
	j.v[TOOL_STAT_RESUMED_PACKS] = (int64_t)s->resumed_packs;
	j.v[TOOL_STAT_EXCLUDED_FILES] = (int64_t)s->excluded_files;
	j.v[TOOL_STAT_EXCLUDED_BYTES] = (int64_t)s->excluded_bytes;
	j.v[TOOL_STAT_EXCLUDED_DIRS] = (int64_t)s->excluded_dirs;
	return tool_json_stats(&j);
}

static int report_json(tier_vault *v, const tier_write_result *res,
                       const tier_push_stats *st, json_t *unreadable)
{
	json_t *o = json_pack("{s:I, s:s, s:o, s:o, s:O}", "revision",
	                      (json_int_t)res->revision, "commit", res->commit,
	                      "tiers", tool_json_tiers(v, res), "stats",
	                      stats_json(st), "unreadable", unreadable);
	return tool_json_emit(o);
}

/* The revision number on stdout (for scripts), the summary on stderr. */
static void report_text(const tier_write_result *res, const tier_push_stats *st)
{
	char a[32], b[32], d[32];
	size_t written = 0;

	printf("%llu\n", (unsigned long long)res->revision);
	for (size_t i = 0; i < res->ntiers; i++)
		written += res->tiers[i].outcome == TIER_WRITE_WRITTEN;
	tool_info("revision %llu on %zu of %s: %s, %s (%s new, %s stored), "
	          "%llu unchanged",
	          (unsigned long long)res->revision, written,
	          tool_count(res->ntiers, "tier", NULL),
	          tool_count(files_of(st), "file", NULL),
	          tool_size(st->bytes, a), tool_size(st->new_bytes, b),
	          tool_size(st->stored_bytes, d),
	          (unsigned long long)st->unchanged_files);
	if (st->excluded_files || st->excluded_dirs)
		tool_info("excluded: %s (%s), %s",
		          tool_count(st->excluded_files, "file", NULL),
		          tool_size(st->excluded_bytes, a),
		          tool_count(st->excluded_dirs, "directory",
		                     "directories"));
}

/* --exclude-if-present plus --exclude-caches, in the order given. */
static const char **if_present_list(size_t *n)
{
	const char **l = calloc(opt_if_present.count + 1, sizeof(*l));
	*n = 0;
	if (!l)
		return NULL;
	for (size_t i = 0; i < opt_if_present.count; i++)
		l[(*n)++] = opt_if_present.items[i];
	if (opt_exclude_caches)
		l[(*n)++] = "CACHEDIR.TAG";
	return l;
}

/* The push itself; the exit code, *revision set when one was written. */
static int push(struct tool_common *c, uint64_t *revision)
{
	tier_vault *v = NULL;
	tier_write_result *res = NULL;
	tier_push_stats st = {0};
	int rc;

	if ((rc = tool_vault_open(&v, c, TOOL_WRITE, 1)) < 0)
		return tool_fail(rc);

	tier_push_options po = TIER_PUSH_OPTIONS_INIT;
	po.paths = c->args.items;
	po.npaths = c->args.count;
	po.reread = opt_reread;
	po.tags = opt_tags.items;
	po.ntags = opt_tags.count;
	po.message = opt_message;
	if (opt_time) {
		po.has_time = 1;
		/* checked in main(): cannot fail here */
		tool_parse_iso8601(opt_time, &po.time, &po.time_offset);
	}
	po.threads = opt_threads;
	po.pack_size = (uint64_t)opt_pack_kib * 1024;
	po.exclude = opt_exclude.items;
	po.nexclude = opt_exclude.count;
	po.exclude_files = opt_exclude_file.items;
	po.nexclude_files = opt_exclude_file.count;
	const char **if_present = if_present_list(&po.nexclude_if_present);
	po.exclude_if_present = if_present;
	po.exclude_larger_than = opt_larger_bytes;
	po.one_file_system = opt_one_fs > 0;
	po.excluded = tool_is_verbose(2) ? on_excluded : NULL;
	start_meter(v, po.paths, po.npaths);
	po.progress = on_progress;
	po.warning = on_warning;
	json_t *unreadable = json_array();
	po.unreadable = on_unreadable;
	po.payload = unreadable;
	rc = if_present ? tier_push_run(&res, &st, v, &po) : TIER_ERROR;
	free(if_present);
	tool_progress_done();
	if (rc < 0) {
		if (res && !c->json)
			tool_write_result_report(res);
		tier_write_result_free(res);
		tier_vault_free(v);
		json_decref(unreadable);
		return tool_fail(rc);
	}

	*revision = res->revision;
	int exit_code = TOOL_EXIT_OK;
	/* skipped tiers are said on stderr whatever the output format */
	tool_write_result_report(res);
	if (c->json)
		exit_code = report_json(v, res, &st, unreadable);
	else
		report_text(res, &st);
	if (st.errors && exit_code == TOOL_EXIT_OK) {
		tool_error("revision %llu was written, but %llu path%s could "
		           "not be read (see above)",
		           (unsigned long long)res->revision,
		           (unsigned long long)st.errors,
		           st.errors == 1 ? "" : "s");
		exit_code = TOOL_EXIT_PARTIAL;
	}
	json_decref(unreadable);
	tier_write_result_free(res);
	tier_vault_free(v);
	return exit_code;
}

/* What the library would refuse, refused before the pre-hook runs. */
static int check_label(const char *opt, const char *s, size_t max, int tag)
{
	size_t n = strlen(s);
	int bad = n == 0 || n > max;
	for (const unsigned char *c = (const unsigned char *)s; *c && !bad; c++)
		bad = *c < 0x20 || *c == 0x7f ||
		      (tag && (*c == ' ' || *c == ','));
	if (!bad)
		return 0;
	return tool_usage_error(
	        "invalid %s '%s' for option '%s' (1 to %zu bytes, no control "
	        "character%s)",
	        tag ? "tag" : "text", tool_q(s), opt, max,
	        tag ? ", space or comma" : "");
}

static int check_labels(void)
{
	int rc;
	for (size_t i = 0; i < opt_tags.count; i++)
		if ((rc = check_label("--tag", opt_tags.items[i], 255, 1)) != 0)
			return rc;
	if (opt_message && *opt_message)
		return check_label("--message", opt_message, 1000, 0);
	return 0;
}

static int add_path(const char *value, void *payload)
{
	struct tool_list *l = payload;
	l->items = tool_xrealloc(l->items, (l->count + 1) * sizeof(*l->items));
	l->items[l->count++] = tool_xstrdup(value);
	return 0;
}

/* No PATH: the config's push.path values (copies). */
static int default_paths(struct tool_list *out)
{
	const tier_config *cfg = tool_config();
	memset(out, 0, sizeof(*out));
	if (cfg)
		tier_config_get_multi(cfg, "push.path", add_path, out);
	if (out->count == 0)
		return tool_usage_error("missing argument: PATH... (or set "
		                        "push.path with tier-config --add)");
	return 0;
}

/*
 * hooks.prePush before the push (its failure: no push, exit 1),
 * hooks.postPush after it whatever the outcome, told the revision and
 * the result; a failed post-hook turns success into exit 1.
 */
static int hooked_push(struct tool_common *c)
{
	struct tool_hooks hooks;
	uint64_t revision = 0;
	int rc;

	if ((rc = tool_hooks_load(&hooks, c->state_dir)) != 0)
		return rc;
	if (hooks.pre && (rc = tool_hook_run(&hooks, "hooks.prePush", hooks.pre,
	                                     NULL, NULL)) != 0) {
		tool_hooks_dispose(&hooks);
		return rc;
	}
	rc = push(c, &revision);
	/* an interrupted push (Ctrl-C) ends without its post-hook */
	if (hooks.post && !tool_interrupted()) {
		char rev[32] = "";
		if (revision)
			snprintf(rev, sizeof(rev), "%llu",
			         (unsigned long long)revision);
		const char *result = rc == TOOL_EXIT_OK        ? "success"
		                     : rc == TOOL_EXIT_PARTIAL ? "partial"
		                                               : "failed";
		int hrc = tool_hook_run(&hooks, "hooks.postPush", hooks.post,
		                        rev, result);
		if (hrc != 0 && rc == TOOL_EXIT_OK)
			rc = hrc;
	}
	tool_hooks_dispose(&hooks);
	return rc;
}

int main(int argc, char **argv)
{
	struct tool_common c;
	struct tool_list config_paths = {0};
	int rc = 0;

	tool_init(&c, &def, argc, argv);
	int64_t t;
	int off;
	if (opt_time && tool_parse_iso8601(opt_time, &t, &off) < 0)
		rc = tool_usage_error(
		        "invalid time '%s' for option '--time' (write ISO 8601, "
		        "e.g. 2026-12-04T10:30:00Z or '2026-12-04 10:30')",
		        opt_time);
	if (rc == 0)
		rc = check_labels();
	if (rc == 0 && opt_larger_than &&
	    (tier_config_parse_size(&opt_larger_bytes, opt_larger_than) < 0 ||
	     opt_larger_bytes == 0))
		rc = tool_usage_error("bad --exclude-larger-than '%s': a size "
		                      "over 0, e.g. 500K, 10M or 2G",
		                      opt_larger_than);
	if (rc == 0 && c.args.count == 0 &&
	    (rc = default_paths(&config_paths)) == 0)
		c.args = config_paths;
	if (rc == 0) {
		if (opt_wait_timeout_seen)
			tool_vault_set_wait((int64_t)opt_wait_timeout);
		tool_vault_set_intend_write(1);
		rc = hooked_push(&c);
	}
	rc = tool_finish(&c, rc);
	for (size_t i = 0; i < config_paths.count; i++)
		free((char *)config_paths.items[i]);
	free(config_paths.items);
	return rc;
}
