/*
 * Command-line parsing for the tier-* tools: one declarative table per
 * tool, the common options of SPEC section 5 added to every tool, and
 * --help and --version generated from the same tables.
 *
 * A tool's main() looks like this:
 *
 *	static int opt_read_data;
 *	static const struct tool_opt options[] = {
 *		TOOL_FLAG(0, "read-data", &opt_read_data,
 *		          "read and hash every chunk"),
 *		TOOL_OPTS_END
 *	};
 *	static const struct tool_exit_doc exits[] = {
 *		{TOOL_EXIT_DAMAGE, "damage found on a tier"},
 *		TOOL_EXITS_END
 *	};
 *	static const struct tool_def def = {
 *		.name = "tier-fsck",
 *		.description = "Verify every tier of the vault ...",
 *		.options = options,
 *		.exits = exits,
 *	};
 *
 *	int main(int argc, char **argv)
 *	{
 *		struct tool_common c;
 *		tool_init(&c, &def, argc, argv);
 *		int rc = ...one libtier call...;
 *		return tool_finish(&c, tool_fail(rc));
 *	}
 *
 * Accepted syntax: "--opt=value", "--opt value", "-oVALUE", "-o VALUE",
 * combined short flags ("-qv", "-qsDIR"), "--" ends the options, a lone
 * "-" is an argument, "-h" is "--help".  Options and arguments may be mixed.  Long options
 * must be spelled out (no abbreviations: they would break scripts when an
 * option is added).  Every error is one line on stderr, exit status 2:
 *	tier-push: unknown option '--frob' (see --help)
 */
#ifndef TOOL_OPT_H
#define TOOL_OPT_H

#include <stddef.h>
#include <stdint.h>

#include "tier/location.h"

/** Every value of a repeatable option (or the arguments), in order. */
struct tool_list {
	const char **items; /**< borrowed from argv */
	size_t count;
};

enum tool_opt_type {
	TOOL_OPT_END = 0, /**< terminates a table */
	TOOL_OPT_FLAG,    /**< int *: incremented each time it is given */
	TOOL_OPT_STRING,  /**< const char **: the last value given wins */
	TOOL_OPT_UINT,    /**< unsigned int *: decimal, range-checked */
	TOOL_OPT_U64,     /**< uint64_t *: decimal, range-checked */
	TOOL_OPT_LIST,    /**< struct tool_list *: repeatable, order kept */
	/**
	 * Durations, into a uint64_t * in milliseconds: "500ms", "30s",
	 * "2m", "1h", or a sum ("1m30s"); min/max in ms.  A bare number
	 * counts in the unit the option took before suffixes, kept for
	 * scripts: milliseconds or seconds.
	 */
	TOOL_OPT_DURATION_MS, /**< a bare number is milliseconds */
	TOOL_OPT_DURATION_S,  /**< a bare number is seconds */
	/** Sizes and rates into a uint64_t *: bytes, or a number with K, M,
	 *  G, T (powers of 1024), as the config's sizes ("512K", "10M") */
	TOOL_OPT_SIZE,
};

struct tool_opt {
	enum tool_opt_type type;
	char short_name;       /**< 0 for none */
	const char *long_name; /**< without "--"; required */
	const char *arg_name;  /**< "DIR": shown in --help; NULL for flags */
	const char *help; /**< lowercase, no full stop, wrapped by --help */
	void *value;      /**< where the value goes; see the types */
	uint64_t min;     /**< numbers: smallest value accepted */
	uint64_t max;     /**< numbers: largest; 0 = the type's maximum */
	int *seen;        /**< optional: incremented each time it is given */
};

/*
 * Table entries.  The conditional expressions make the compiler check the
 * type of the variable against the option type.
 */
/* clang-format off */
#define TOOL_FLAG(s, l, var, help) \
	{TOOL_OPT_FLAG, s, l, NULL, help, (1 ? (var) : (int *)0), 0, 0, NULL}
#define TOOL_STRING(s, l, arg, var, help) \
	{TOOL_OPT_STRING, s, l, arg, help, (1 ? (var) : (const char **)0), \
	 0, 0, NULL}
#define TOOL_UINT(s, l, arg, var, min, max, help) \
	{TOOL_OPT_UINT, s, l, arg, help, (1 ? (var) : (unsigned int *)0), \
	 min, max, NULL}
#define TOOL_U64(s, l, arg, var, min, max, help) \
	{TOOL_OPT_U64, s, l, arg, help, (1 ? (var) : (uint64_t *)0), \
	 min, max, NULL}
#define TOOL_LIST(s, l, arg, var, help) \
	{TOOL_OPT_LIST, s, l, arg, help, (1 ? (var) : (struct tool_list *)0), \
	 0, 0, NULL}
#define TOOL_DURATION_MS(s, l, var, min_ms, max_ms, help) \
	{TOOL_OPT_DURATION_MS, s, l, "DURATION", help, \
	 (1 ? (var) : (uint64_t *)0), min_ms, max_ms, NULL}
#define TOOL_DURATION_S(s, l, var, min_ms, max_ms, help) \
	{TOOL_OPT_DURATION_S, s, l, "DURATION", help, \
	 (1 ? (var) : (uint64_t *)0), min_ms, max_ms, NULL}
#define TOOL_SIZE(s, l, arg, var, min, max, help) \
	{TOOL_OPT_SIZE, s, l, arg, help, (1 ? (var) : (uint64_t *)0), \
	 min, max, NULL}
/* --limit-upload and --limit-download, for the tools that move data
 * (push, sync, restore, fsck): tool_location_options() applies them. */
#define TOOL_LIMIT_OPTS \
	TOOL_SIZE(0, "limit-upload", "RATE", &tool_limit_upload, 1, 0, \
	          "send at most RATE bytes/s to each tier (512K, 10M); " \
	          "default: the config's tier.NAME.limitUpload"), \
	TOOL_SIZE(0, "limit-download", "RATE", &tool_limit_download, 1, 0, \
	          "read at most RATE bytes/s from each tier; default: the " \
	          "config's tier.NAME.limitDownload")
#define TOOL_OPTS_END {TOOL_OPT_END, 0, NULL, NULL, NULL, NULL, 0, 0, NULL}
/* clang-format on */

/** Set by TOOL_LIMIT_OPTS: bytes/s, 0 for none given. */
extern uint64_t tool_limit_upload, tool_limit_download;

/** An exit code a tool can return beyond 0, 1 and 2, for --help. */
struct tool_exit_doc {
	int code;
	const char *meaning; /**< NULL: the standard text (tool_exit_meaning) */
};
/* clang-format off */
#define TOOL_EXITS_END {-1, NULL}
/* clang-format on */

/** max_args value for "any number". */
#define TOOL_ARGS_MANY ((unsigned int)-1)

/** Everything --help and the parser need to know about one tool. */
struct tool_def {
	const char *name; /**< "tier-push": prefix of every message */
	const char *args; /**< synopsis of the arguments: "DEST [PATH...]" */
	const char *description;        /**< one paragraph, wrapped by --help */
	const struct tool_opt *options; /**< tool-specific, may be NULL */
	unsigned int min_args;          /**< positional arguments required */
	unsigned int max_args; /**< at most; TOOL_ARGS_MANY for no limit */
	/**
	 * Exit codes beyond 0, 1, 2 that this tool returns, terminated by
	 * TOOL_EXITS_END; an entry for 0, 1 or 2 replaces the standard text.
	 */
	const struct tool_exit_doc *exits;
	/** 1: read no defaults from <state>/config (tier-config itself) */
	int no_config;
};

/** The options every tool takes (SPEC section 5), after parsing. */
struct tool_common {
	/** -s/--state DIR, else $TIER_STATE_DIR if not empty, else NULL. */
	const char *state_dir;
	/** -t/--tier [NAME=]URL, every one, in the order given (read order). */
	struct tool_list tiers;
	int json;    /**< --json: one JSON object on stdout */
	int quiet;   /**< -q: no progress or informational messages */
	int verbose; /**< -v, counted: 1 = retries and tier state changes */
	/** --retries N (attempts per tier call), default from libtier. */
	unsigned int retries;
	/** --retry-delay DURATION (base of the back-off) in ms, default from
	 * libtier; a bare number is milliseconds. */
	unsigned int retry_delay;
	/** --timeout DURATION in whole seconds, rounded up (0 = default); a
	 * bare number is seconds. */
	unsigned int timeout;
	/** --cacert FILE: CA certificates for ftps:// and https S3 endpoints. */
	const char *cacert;
	/** --insecure: no TLS certificate or SSH host key check (tests only). */
	int insecure;
	/** --password-file FILE, --password-command CMD (password.h). */
	const char *password_file;
	const char *password_command;
	/** Positional arguments, in order (options removed). */
	struct tool_list args;

	const struct tool_def *def; /* for tool_common_dispose */
};

/** Returned by tool_opt_parse when the tool should go on. */
#define TOOL_OPT_CONTINUE (-1)

/**
 * Parse argv against the common options and def->options.  Sets the
 * program name used by every message (tool_name()) and configures the
 * output helpers (quiet, json, verbose).  Reorders argv (arguments first).
 *
 * Returns TOOL_OPT_CONTINUE, or the code the tool must exit with:
 * TOOL_EXIT_OK after printing --help or --version on stdout,
 * TOOL_EXIT_USAGE after printing a one-line error on stderr.
 * Either way call tool_common_dispose() once done.
 */
int tool_opt_parse(struct tool_common *out, const struct tool_def *def,
                   int argc, char **argv);

/**
 * tool_opt_parse() for main(): sets the umask to 077 (what the tools
 * create is private, docs/security.md), exits when the parser says so,
 * and installs the SIGINT/SIGTERM/SIGHUP handlers (see tool_interrupted()).
 */
void tool_init(struct tool_common *out, const struct tool_def *def, int argc,
               char **argv);

/**
 * The end of main(): clears the progress line, flushes stdout (a failed
 * write turns success into TOOL_EXIT_ERROR with a message), frees what
 * parsing allocated, and returns the exit code to return from main().
 */
int tool_finish(struct tool_common *c, int exit_code);

/** Free the lists allocated while parsing (common and tool-specific). */
void tool_common_dispose(struct tool_common *c);

/*
 * Defaults from the config (docs/config.md).  After parsing, every tool
 * option that the command line did not give takes the value of its key
 * in <state>/config, named by one rule: the tool's name without "tier-",
 * a dot, the long option in camelCase ("tier-push --exclude-larger-than"
 * -> "push.excludeLargerThan").  An option has a key when the key is in
 * libtier's table (tier_config_keys()).  The common --retries,
 * --retry-delay and --timeout read retry.count, retry.delay and
 * retry.timeout.  A list option takes the config's values, then the
 * command line's; a flag key set to true gives the flag.  A bad value is
 * a one-line error naming the key and the file, exit 2; so is an unknown
 * key anywhere in the file (tier_config_open()).
 */
struct tier_config;
/** The config read while parsing (NULL: no installation); borrowed until
 *  tool_finish(). */
const struct tier_config *tool_config(void);

/** Print the generated --help text of def on stdout. */
void tool_opt_help(const struct tool_def *def);

/**
 * Fill libtier location options from the common options: --retries,
 * --retry-delay, and with -v a trace callback that prints each retry line
 * on stderr ("tier-push: ftp://host/x: attempt 2 of 10 failed: ...").
 * Fields not covered by the common options are left as they are.
 */
void tool_location_options(const struct tool_common *c,
                           tier_location_options *opts);

/**
 * Whether SIGINT, SIGTERM or SIGHUP arrived since tool_init().  A long
 * operation's progress callback returns this to cancel (the library then
 * fails with TIER_EABORTED, exit 6).  A second signal kills at once.
 */
int tool_interrupted(void);

#endif
