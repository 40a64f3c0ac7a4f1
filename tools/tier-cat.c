/* tier-cat: one file of a revision, its bytes on stdout. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "exitcodes.h"
#include "listing.h"
#include "opt.h"
#include "output.h"
#include "session.h"

static uint64_t opt_revision;

static const struct tool_opt options[] = {
        TOOL_U64('r', "revision", "N", &opt_revision, 1, 0,
                 "read the file from revision N (default: the latest)"),
        TOOL_OPTS_END,
};

static const struct tool_exit_doc exits[] = {
        {TOOL_EXIT_ERROR,
         "error, e.g. PATH is not in the revision or is not a regular "
         "file, a chunk is damaged on every tier, or stdout cannot be "
         "written"},
        {TOOL_EXIT_FOREIGN, NULL},
        {TOOL_EXIT_ROLLEDBACK, NULL},
        {TOOL_EXIT_INTERRUPTED, NULL},
        TOOL_EXITS_END,
};

static const struct tool_def def = {
        .name = "tier-cat",
        .args = "PATH",
        .description =
                "Write the bytes of one regular file of a revision (default: the latest) on "
                "stdout.  PATH is a path in the snapshot (\"/home/u/a.txt\" or "
                "\"home/u/a.txt\"). The data is read as tier-restore reads it: from the first "
                "online tier that holds the revision, every chunk checked against its hash; a "
                "pack missing or damaged there is read from the next tier and the damage "
                "reported on stderr.  --json does not apply to the bytes: only an error is "
                "then printed as JSON.  Works with an installation (-s) or with only -t URL.",
        .options = options,
        .min_args = 1,
        .max_args = 1,
        .exits = exits,
};

static int write_out(const void *data, size_t len, void *payload)
{
	int *failed = payload;
	/* bytes on stdout: no JSON error object may follow them */
	tool_json_stream_begin();
	if (fwrite(data, 1, len, stdout) != len) {
		*failed = errno ? errno : EIO;
		return 1;
	}
	return tool_interrupted();
}

int main(int argc, char **argv)
{
	struct tool_common c;
	tier_vault *v = NULL;
	tier_browse *b = NULL;
	int failed = 0, rc;

	tool_init(&c, &def, argc, argv);
	if ((rc = tool_vault_open(&v, &c, TOOL_READ, 1)) == 0 &&
	    (rc = tool_browse_open(&b, v, opt_revision)) == 0)
		rc = tier_browse_read(b, c.args.items[0], write_out, &failed);
	tier_browse_free(b);
	tier_vault_free(v);
	if (failed) {
		tool_error("cannot write to stdout: %s", strerror(failed));
		return tool_finish(&c, TOOL_EXIT_ERROR);
	}
	return tool_finish(&c, tool_fail(rc));
}
