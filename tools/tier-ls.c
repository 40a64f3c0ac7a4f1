/* tier-ls: a revision's files like ls -l, without restoring them. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "exitcodes.h"
#include "listing.h"
#include "opt.h"
#include "output.h"
#include "session.h"

static uint64_t opt_revision;
static int opt_recursive;

static const struct tool_opt options[] = {
        TOOL_U64('r', "revision", "N", &opt_revision, 1, 0,
                 "list revision N (default: the latest)"),
        TOOL_FLAG('R', "recursive", &opt_recursive,
                  "everything below PATH, depth first, by full path"),
        TOOL_OPTS_END,
};

static const struct tool_exit_doc exits[] = {
        {TOOL_EXIT_ERROR,
         "error, e.g. PATH or the revision is not in the vault, or no tier "
         "can be read"},
        {TOOL_EXIT_FOREIGN, NULL},
        {TOOL_EXIT_ROLLEDBACK, NULL},
        {TOOL_EXIT_INTERRUPTED, NULL},
        TOOL_EXITS_END,
};

static const struct tool_def def = {
        .name = "tier-ls",
        .args = "[PATH]",
        .description =
                "List what a revision of the vault (default: the latest) holds at PATH (a "
                "path in the snapshot, \"/home/u/docs\" or \"home/u/docs\"; default: the "
                "root), like ls -l: type and mode, numeric owner and group, size in bytes, "
                "mtime (in the time zone of TZ) and name, \"-> target\" for a symlink.  "
                "Entries come in byte order of their names.  With -R, everything below PATH, "
                "each directory followed by what it holds, by full path.  Nothing is "
                "restored; the log alone is read, so any tier that holds the revision will "
                "do.  Works with an installation (-s) or with only -t URL.",
        .options = options,
        .min_args = 0,
        .max_args = 1,
        .exits = exits,
};

struct ls {
	int json;
	size_t count;
	int failed; /* a write to stdout failed */
};

static int on_entry(const tier_browse_entry *e, void *payload)
{
	struct ls *l = payload;
	if (l->json) {
		if (l->count && fputc(',', stdout) == EOF)
			l->failed = 1;
		if (tool_json_stream_put(tool_json_entry(e)))
			l->failed = 1;
	} else {
		tool_entry_line(e, opt_recursive || e->depth == 0 ? e->path
		                                                  : e->name);
	}
	l->count++;
	if (ferror(stdout))
		l->failed = 1;
	return l->failed || tool_interrupted();
}

/* The header of the JSON object, once PATH is known to be there. */
static int json_head(tier_browse *b, const char *path)
{
	tool_json_stream_begin();
	printf("{\"revision\":%" PRIu64 ",\"path\":", tier_browse_revision(b));
	if (tool_json_stream_put(json_string(path && *path ? path : "/")))
		return TOOL_EXIT_ERROR;
	fputs(",\"entries\":[", stdout);
	return 0;
}

static int first(const tier_browse_entry *e, void *payload)
{
	(void)e;
	(void)payload;
	return 1; /* PATH is there: stop at once */
}

int main(int argc, char **argv)
{
	struct tool_common c;
	tier_vault *v = NULL;
	tier_browse *b = NULL;
	const char *path;
	struct ls l = {0, 0, 0};
	int rc;

	tool_init(&c, &def, argc, argv);
	path = c.args.count ? c.args.items[0] : "/";
	if ((rc = tool_vault_open(&v, &c, TOOL_READ, 1)) < 0 ||
	    (rc = tool_browse_open(&b, v, opt_revision)) < 0)
		goto fail;
	/* a path the revision lacks is an error before any output */
	rc = tier_browse_list(b, path, TIER_BROWSE_SELF, first, NULL);
	if (rc < 0 && rc != TIER_EABORTED)
		goto fail;
	l.json = c.json;
	if (c.json && json_head(b, path))
		goto out;
	rc = tier_browse_list(b, path,
	                      opt_recursive ? TIER_BROWSE_RECURSIVE : 0,
	                      on_entry, &l);
	if (c.json)
		fputs("]}\n", stdout);
	if (rc < 0 && !l.failed)
		goto fail;
out:
	tier_browse_free(b);
	tier_vault_free(v);
	return tool_finish(&c, l.failed ? TOOL_EXIT_ERROR : TOOL_EXIT_OK);
fail:
	rc = tool_fail(rc);
	tier_browse_free(b);
	tier_vault_free(v);
	return tool_finish(&c, rc);
}
