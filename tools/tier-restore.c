/* tier-restore: write a revision of the vault (or part of it) back to disk. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exitcodes.h"
#include "opt.h"
#include "output.h"
#include "session.h"

static uint64_t opt_revision;
static const char *opt_overwrite;
static int opt_dry_run;
static struct tool_list opt_include, opt_exclude;

static const struct tool_opt options[] = {
        TOOL_U64('r', "revision", "N", &opt_revision, 1, 0,
                 "restore revision N (default: the latest)"),
        TOOL_STRING(0, "overwrite", "MODE", &opt_overwrite,
                    "what to do with an entry DEST has already: always "
                    "(default: replace it unless its contents are the "
                    "snapshot's), if-changed (replace it when its size, "
                    "mtime or mode differ), never (leave it)"),
        TOOL_FLAG(0, "dry-run", &opt_dry_run,
                  "say what would be restored (counts, bytes) and write "
                  "nothing"),
        TOOL_LIST(0, "include", "PATTERN", &opt_include,
                  "restore only entries matching PATTERN (gitignore-style, "
                  "from the snapshot root), what they hold and the "
                  "directories above them; repeatable"),
        TOOL_LIST(0, "exclude", "PATTERN", &opt_exclude,
                  "leave out entries matching PATTERN and what they hold; "
                  "repeatable; wins over --include"),
        TOOL_LIMIT_OPTS,
        TOOL_OPTS_END,
};

static const struct tool_exit_doc exits[] = {
        {TOOL_EXIT_ERROR,
         "error, e.g. a chunk damaged on every tier, an entry of a damaged "
         "or hostile tier skipped, a file in DEST that cannot be replaced; "
         "the message says which"},
        {TOOL_EXIT_FOREIGN, NULL},
        {TOOL_EXIT_ROLLEDBACK, NULL},
        {TOOL_EXIT_INTERRUPTED,
         "interrupted; no half-written file is left under its name, and "
         "the same command again finishes the restore"},
        TOOL_EXITS_END,
};

static const struct tool_def def = {
        .name = "tier-restore",
        .args = "DEST [PATH...]",
        .description =
                "Restore a revision of the vault (default: the latest, or with PATH the newest "
                "revision that holds every PATH) into the directory DEST. "
                "A file backed up as /home/u/a.txt is written to DEST/home/u/a.txt. PATH "
                "arguments are paths in the snapshot (\"/home/u/docs\" or \"home/u/docs\"): only "
                "those files and directories are restored. Contents, modes, mtimes, symlinks, "
                "empty directories and (as root) owners are restored. Data is read from the "
                "first online tier; a pack missing or damaged there is read from the next tier "
                "and the damage reported. Entries already in DEST as the snapshot has them "
                "(a file of the same size, mtime, mode and contents) are kept: after an "
                "interruption the same command finishes the restore. --include and "
                "--exclude choose entries by gitignore-style patterns on their path in the "
                "snapshot; --dry-run counts what would be restored. Works with an "
                "installation (-s) or with only -t URL.",
        .options = options,
        .min_args = 1,
        .max_args = TOOL_ARGS_MANY,
        .exits = exits,
};

static void flush_old_warning(void);

/* --overwrite MODE; restic's words and default (always). */
static int parse_overwrite(const char *s, int *out)
{
	if (!s || !strcmp(s, "always"))
		*out = TIER_OVERWRITE_ALWAYS;
	else if (!strcmp(s, "if-changed"))
		*out = TIER_OVERWRITE_IF_CHANGED;
	else if (!strcmp(s, "never"))
		*out = TIER_OVERWRITE_NEVER;
	else
		return tool_usage_error("unknown --overwrite mode '%s' (write "
		                        "always, if-changed or never)",
		                        tool_q(s));
	return 0;
}

/* On a terminal: the totals counted first (a dry run), so the line has an ETA. */
static tool_meter meter;
static int have_totals;

static int on_progress(const tier_restore_stats *s, const char *current,
                       void *payload)
{
	char b[32];
	(void)payload;
	flush_old_warning();
	if (!tool_progress_enabled())
		return tool_interrupted();
	if (have_totals)
		tool_progress(
		        "restoring revision %" PRIu64 ": %s  %s", s->revision,
		        tool_meter_text(&meter, s->bytes, s->files + s->others),
		        current ? tool_q(current) : "");
	else
		tool_progress(
		        "%s revision %" PRIu64 ": %s, %s  %s",
		        opt_dry_run ? "counting" : "restoring", s->revision,
		        tool_count(s->files + s->others, "file", NULL),
		        tool_size(s->bytes, b), current ? tool_q(current) : "");
	return tool_interrupted();
}

static int on_count(const tier_restore_stats *s, const char *current,
                    void *payload)
{
	(void)payload;
	(void)current;
	tool_progress("counting what to restore: %s",
	              tool_count(s->files + s->others, "file", NULL));
	return tool_interrupted();
}

/*
 * The totals for the progress line: the same selection counted by a dry
 * run, warnings left to the restore itself.  The contents of files DEST
 * has are not read for it (if-changed), so a file that "always" finds
 * changed may be missing from the totals: the meter stops at its total.
 */
static void count_totals(tier_vault *v, const tier_restore_options *ro)
{
	tier_restore_options co = *ro;
	tier_restore_stats st = {0};
	co.dry_run = 1;
	co.progress = on_count;
	co.warning = NULL;
	if (co.overwrite == TIER_OVERWRITE_ALWAYS)
		co.overwrite = TIER_OVERWRITE_IF_CHANGED;
	if (tier_restore_run(&st, v, &co) == 0) {
		tool_meter_start(&meter, st.bytes, st.files + st.others);
		have_totals = 1;
	}
	tier_error_clear();
	tool_progress_done();
}

/*
 * A restore that fails reports, as its error, the first entry it could not
 * restore, which it also passed to on_warning: printed both ways it is the
 * same line twice.  So the latest warning is held back a moment (until the
 * next one, a second, or the end): when it is the error it is printed once,
 * as the error.  Warnings printed earlier are remembered by hash, so that
 * an error repeating one of them becomes a count instead.
 */
static pthread_mutex_t warn_lock = PTHREAD_MUTEX_INITIALIZER;
static char *held; /* the latest warning, not printed yet */
static struct timespec held_at;
static uint64_t *printed; /* hashes of the warnings printed */
static size_t nprinted, cprinted;

static uint64_t msg_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static void remember(const char *msg)
{
	if (nprinted == cprinted) {
		size_t n = cprinted ? cprinted * 2 : 64;
		uint64_t *p = n <= (1u << 22) ? realloc(printed, n * sizeof(*p))
		                              : NULL;
		if (!p)
			return; /* then an error may repeat a warning: no harm */
		printed = p;
		cprinted = n;
	}
	printed[nprinted++] = msg_hash(msg);
}

static int was_printed(const char *msg)
{
	uint64_t h = msg_hash(msg);
	for (size_t i = 0; i < nprinted; i++)
		if (printed[i] == h)
			return 1;
	return 0;
}

/* Called with warn_lock held. */
static void print_held(void)
{
	if (!held)
		return;
	tool_progress_done();
	tool_warning("%s", held);
	remember(held);
	free(held);
	held = NULL;
}

static void on_warning(const char *msg, void *payload)
{
	(void)payload;
	pthread_mutex_lock(&warn_lock);
	print_held();
	if ((held = strdup(msg)) != NULL) {
		clock_gettime(CLOCK_MONOTONIC, &held_at);
	} else {
		tool_warning("%s", msg);
		remember(msg);
	}
	pthread_mutex_unlock(&warn_lock);
}

/* From the progress callback: a warning held for a second is printed. */
static void flush_old_warning(void)
{
	struct timespec now;
	pthread_mutex_lock(&warn_lock);
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (held && (now.tv_sec - held_at.tv_sec) * 1000 +
	                            (now.tv_nsec - held_at.tv_nsec) / 1000000 >=
	                    1000)
		print_held();
	pthread_mutex_unlock(&warn_lock);
}

/* The end of a failed restore: its error printed once. */
static int restore_failed(int rc, const tier_restore_stats *st)
{
	const char *msg = tier_error_last();
	int code;

	pthread_mutex_lock(&warn_lock);
	if (held && !strcmp(held, msg)) {
		free(held); /* the error says it */
		held = NULL;
	}
	print_held();
	int repeat = *msg && was_printed(msg);
	pthread_mutex_unlock(&warn_lock);
	if (!repeat)
		return tool_fail(rc);
	code = tool_exit_from_error(rc);
	tool_error(
	        "%" PRIu64
	        " entr%s could not be restored (named in the warnings above)",
	        st->errors ? st->errors : 1, st->errors == 1 ? "y" : "ies");
	tool_json_error(tier_error_name(rc), code, msg);
	return code;
}

static int report_json(const tier_restore_stats *st, const char *dest)
{
	/* every non-directory entry is a file (docs/glossary.md) */
	uint64_t files = st->files + st->others;
	tool_stats sj;

	tool_stats_init(&sj);
	sj.v[TOOL_STAT_FILES] = (int64_t)files;
	sj.v[TOOL_STAT_DIRS] = (int64_t)st->dirs;
	sj.v[TOOL_STAT_OTHERS] = (int64_t)st->others;
	sj.v[TOOL_STAT_BYTES] = (int64_t)st->bytes;
	sj.v[TOOL_STAT_CHUNKS] = (int64_t)st->chunks;
	sj.v[TOOL_STAT_DAMAGED] = (int64_t)st->damaged;
	sj.v[TOOL_STAT_ERRORS] = (int64_t)st->errors;
	json_t *o = json_pack(
	        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:I, "
	        "s:I, s:b}",
	        "revision", (json_int_t)st->revision, "files",
	        (json_int_t)files, "dirs", (json_int_t)st->dirs, "others",
	        (json_int_t)st->others, "bytes", (json_int_t)st->bytes,
	        "chunks", (json_int_t)st->chunks, "damaged",
	        (json_int_t)st->damaged, "errors", (json_int_t)st->errors,
	        "kept", (json_int_t)st->kept, "latest", (json_int_t)st->latest,
	        "stats", tool_json_stats(&sj), "skipped",
	        (json_int_t)st->skipped, "filtered", (json_int_t)st->filtered,
	        "dry_run", opt_dry_run != 0);
	if (o)
		tool_json_set_name(o, "dest", dest);
	return tool_json_emit(o);
}

static void report_text(const tier_restore_stats *st, const char *dest)
{
	uint64_t files = st->files + st->others;
	char b[32];
	char also[192] = "";
	size_t n = 0;

	tool_size(st->bytes, b);
	if (st->kept)
		n += (size_t)snprintf(also + n, sizeof(also) - n,
		                      "%s%" PRIu64 " entr%s already there kept",
		                      n ? ", " : " (", st->kept,
		                      st->kept == 1 ? "y" : "ies");
	if (st->skipped)
		n += (size_t)snprintf(also + n, sizeof(also) - n,
		                      "%s%" PRIu64
		                      " left as they are (--overwrite never)",
		                      n ? ", " : " (", st->skipped);
	if (st->filtered)
		n += (size_t)snprintf(also + n, sizeof(also) - n,
		                      "%s%" PRIu64
		                      " left out by --include/--exclude",
		                      n ? ", " : " (", st->filtered);
	if (n)
		snprintf(also + n, sizeof(also) - n, ")");
	tool_info(
	        "%s revision %" PRIu64 ": %s, %s into %s%s%s",
	        opt_dry_run ? "would restore" : "restored", st->revision,
	        tool_count(files, "file", NULL), b, tool_q(dest), also,
	        st->damaged
	                ? " (damage found on a tier: see the warnings, then run tier-fsck)"
	                : "");
	if (st->errors)
		tool_warning(
		        "%" PRIu64
		        " entr%s could not be restored completely (see above)",
		        st->errors, st->errors == 1 ? "y" : "ies");
}

int main(int argc, char **argv)
{
	struct tool_common c;
	tier_restore_options ro = TIER_RESTORE_OPTIONS_INIT;
	tier_restore_stats st = {0};
	tier_vault *v = NULL;
	const char *dest;
	int rc;

	tool_init(&c, &def, argc, argv);
	dest = c.args.items[0];
	if (parse_overwrite(opt_overwrite, &ro.overwrite))
		return tool_finish(&c, TOOL_EXIT_USAGE);
	for (size_t i = 0; i < opt_include.count + opt_exclude.count; i++) {
		const char *p =
		        i < opt_include.count
		                ? opt_include.items[i]
		                : opt_exclude.items[i - opt_include.count];
		if (!*p || strspn(p, "/") == strlen(p))
			return tool_finish(
			        &c,
			        tool_usage_error("pattern '%s' matches nothing",
			                         tool_q(p)));
	}
	/* an installation or -t alone; R8 (exit 3/4) is checked before reading */
	if ((rc = tool_vault_open(&v, &c, TOOL_READ, 1)) < 0)
		return tool_finish(&c, tool_fail(rc));

	ro.revision = opt_revision;
	ro.dest = dest;
	ro.paths = c.args.count > 1 ? c.args.items + 1 : NULL;
	ro.npaths = c.args.count - 1;
	ro.dry_run = opt_dry_run;
	ro.include = opt_include.items;
	ro.ninclude = opt_include.count;
	ro.exclude = opt_exclude.items;
	ro.nexclude = opt_exclude.count;
	ro.progress = on_progress;
	ro.warning = on_warning;
	if (tool_progress_enabled() && !opt_dry_run)
		count_totals(v, &ro);
	rc = tier_restore_run(&st, v, &ro);
	tier_vault_free(v);
	/* with PATHs and no -r: the newest revision holding them, said so */
	if (!opt_revision && ro.npaths && st.revision && st.latest &&
	    st.revision != st.latest)
		tool_info(
		        "using revision %" PRIu64
		        ", the newest that holds the paths given (latest is %" PRIu64
		        ")",
		        st.revision, st.latest);
	if (rc < 0)
		return tool_finish(&c, restore_failed(rc, &st));
	pthread_mutex_lock(&warn_lock);
	print_held();
	pthread_mutex_unlock(&warn_lock);

	if (c.json)
		return tool_finish(&c, report_json(&st, dest));
	report_text(&st, dest);
	return tool_finish(&c, TOOL_EXIT_OK);
}
