/*
 * What the tier-* tools print.
 *
 * stdout carries results only: text for people, or with --json exactly one
 * JSON object (fields are only ever added, never renamed).  stderr carries
 * everything else, one line per message, prefixed by the tool name:
 *	tier-push: cannot open pack 'data/3f/3f9a': no such file
 *	tier-push: warning: tier 'server' is offline, skipped
 * A progress line is drawn on stderr only when stderr is a terminal and
 * neither -q nor --json was given.  Colour only on a terminal, never when
 * NO_COLOR is set (https://no-color.org) or TERM is "dumb".
 */
#ifndef TOOL_OUTPUT_H
#define TOOL_OUTPUT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "tier.h"

#if defined(__GNUC__)
#define TOOL_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TOOL_PRINTF(f, a)
#endif

struct tool_common;

/** The program name set by tool_opt_parse ("tier" before that). */
const char *tool_name(void);
void tool_set_name(const char *name);

/** Apply -q, -v and --json to the helpers below (tool_opt_parse does it). */
void tool_output_setup(const struct tool_common *c);

/** "tier-X: <msg>" on stderr.  Newlines in msg are folded to spaces. */
void tool_error(const char *fmt, ...) TOOL_PRINTF(1, 2);

/** "tier-X: <msg> (see --help)" on stderr; returns TOOL_EXIT_USAGE. */
int tool_usage_error(const char *fmt, ...) TOOL_PRINTF(1, 2);

/** "tier-X: warning: <msg>" on stderr, also under -q. */
void tool_warning(const char *fmt, ...) TOOL_PRINTF(1, 2);

/** "tier-X: <msg>" on stderr unless -q. */
void tool_info(const char *fmt, ...) TOOL_PRINTF(1, 2);

/** "tier-X: <msg>" on stderr when -v was given at least level times. */
void tool_verbose(int level, const char *fmt, ...) TOOL_PRINTF(2, 3);

/** Whether -v was given at least level times. */
int tool_is_verbose(int level);

/**
 * The end of a failed libtier call: prints tier_error_last() as a
 * tool_error() (or the code's name when the message is empty) and returns
 * tool_exit_from_error(tier_code).  Returns 0 and prints nothing for 0, so
 * `return tool_finish(&c, tool_fail(rc));` covers both outcomes.
 * With --json, when no object was printed yet, also prints
 *	{"error": {"message": "...", "code": "offline", "exit": 1}}
 * on stdout so a script always gets one object.
 */
int tool_fail(int tier_code);

/**
 * Print obj as one line of JSON on stdout and take ownership of it (it is
 * released even on failure).  Returns 0, or TOOL_EXIT_ERROR after a
 * message when obj is NULL (out of memory while building it) or the write
 * failed.
 */
int tool_json_emit(json_t *obj);

/** Whether tool_json_emit() has printed an object. */
int tool_json_emitted(void);

/**
 * One object too large to build in memory (a listing of a million files):
 * the tool prints it piece by piece on stdout, one line in all, ending
 * with "}\n".  tool_json_stream_begin() says it has started (no error
 * object follows it, as after tool_json_emit()); tool_json_stream_put()
 * prints v compactly (no newline) and frees it.
 */
void tool_json_stream_begin(void);
int tool_json_stream_put(json_t *v);

/* ---- names in text ---------------------------------------------------- */

/**
 * A name that came from a tier or the file system, ready to print: as is
 * when plain, else quoted the way git's core.quotePath does ("a\033b",
 * "\303\251t\351"; see tier_quote_path()).  No control byte, DEL or byte
 * >= 0x80 of the name reaches the terminal raw, and one name is one line.
 * The result lives in one of 8 rotating buffers: valid until the eighth
 * next call (several may appear in one printf).
 */
const char *tool_q(const char *s);

/** Whether s[0..n) is valid UTF-8 (no overlong form, surrogate, > U+10FFFF). */
int tool_utf8_valid(const char *s, size_t n);

/* ---- JSON: names and the object kinds (docs/json.md, docs/schema/) ---- */

/**
 * A JSON string for text meant for people (messages, summaries): s itself
 * when it is valid UTF-8, else s with every invalid byte replaced by
 * U+FFFD.  NULL gives JSON null.
 */
json_t *tool_json_text(const char *s);

/**
 * obj[key] = the name s (tool_json_text(s)), and when s is not valid UTF-8
 * also obj["<key>_b64"] = its exact bytes in base64 (RFC 4648).  Every
 * path or file name in every tool's JSON goes through this (or
 * tool_json_set_names), so that no name is dropped or altered silently:
 * a reader takes "<key>_b64" when it is present, else "<key>".
 */
void tool_json_set_name(json_t *obj, const char *key, const char *s);

/** The same for a list: obj[key] = [names], obj["<key>_b64"] = [base64 of
 *  every name, in the same order] when any of them is not valid UTF-8. */
void tool_json_set_names(json_t *obj, const char *key, const char *const *names,
                         size_t n);

/** Fields of the "stats" object (docs/glossary.md says what each counts). */
enum tool_stat {
	TOOL_STAT_FILES = 0,
	TOOL_STAT_DIRS,
	TOOL_STAT_OTHERS,
	TOOL_STAT_BYTES,
	TOOL_STAT_UNCHANGED_FILES,
	TOOL_STAT_READ_BYTES,
	TOOL_STAT_CHUNKS,
	TOOL_STAT_NEW_CHUNKS,
	TOOL_STAT_NEW_BYTES,
	TOOL_STAT_STORED_BYTES,
	TOOL_STAT_PACKS,
	TOOL_STAT_ERRORS,
	TOOL_STAT_CHANGED,
	TOOL_STAT_DAMAGED,
	TOOL_STAT_TIERS,
	TOOL_STAT_REVISIONS,
	TOOL_STAT_SKIPPED,
	TOOL_STAT_LOG_BYTES,
	TOOL_STAT_RESUMED_PACKS,
	TOOL_STAT_EXCLUDED_FILES,
	TOOL_STAT_EXCLUDED_BYTES,
	TOOL_STAT_EXCLUDED_DIRS,
	TOOL_STAT_COUNT
};

/** A stat the tool does not report: the field is left out. */
#define TOOL_STAT_ABSENT INT64_MIN
/** A stat the tool reports but does not know (not recorded): null. */
#define TOOL_STAT_UNKNOWN (-1)

typedef struct {
	int64_t v[TOOL_STAT_COUNT];
} tool_stats;

/** Every field TOOL_STAT_ABSENT. */
void tool_stats_init(tool_stats *s);

/** The "stats" object: one schema (docs/schema/stats.json) for every tool. */
json_t *tool_json_stats(const tool_stats *s);

/**
 * The "tier" object (docs/schema/tier.json): name, url, online, state,
 * revision and head (null when the tier did not answer), synchronized,
 * stored_revision (null when this installation stored none), problem
 * (null when none).  res, when not NULL, adds the tier's part of a write:
 * "result" and, when it was not written, "error".
 */
json_t *tool_json_tier(const tier_vault *v, size_t i,
                       const tier_write_result *res);

/** [tool_json_tier(v, i, res) for every tier of v]. */
json_t *tool_json_tiers(const tier_vault *v, const tier_write_result *res);

/**
 * Time t (seconds since the epoch) as RFC 3339 in the local time zone of
 * TZ ("2026-12-03T10:16:11+01:00"): what tier-log prints in JSON.
 */
void tool_time_rfc3339(char *out, size_t cap, int64_t t);
/** "2026-12-04 10:30:00 +0100": local time of TZ, as the tables show it. */
void tool_time_text(char *out, size_t cap, int64_t t);

/**
 * The "revision" object (docs/schema/revision.json) of one log entry:
 * revision, commit, time, installation, host, user, op, summary (always
 * the commit's one-line summary, a string), paths (its source paths, []
 * when it records none) and stats (files, bytes, new_bytes, packs: null
 * when the revision did not record them).
 */
json_t *tool_json_revision(const tier_log_entry *e, const char *const *paths,
                           size_t npaths);

/**
 * The error object {"error": {"code", "exit", "message"}}
 * (docs/schema/error.json), printed on stdout when --json was given and no
 * object was printed yet; nothing otherwise.  code is tier_error_name()'s
 * word ("offline", "usage"...).
 */
void tool_json_error(const char *code, int exit_code, const char *message);

/**
 * Whether --json was given.  Set before the command line is parsed (so
 * that a usage error still prints its error object) by tool_output_json().
 */
int tool_json_mode(void);
void tool_output_json(int on);

/**
 * One message for a tier's state: its problem as the library said it when
 * that names the tier already ("tier 'nas' (URL) offline after 10
 * attempts: ..."), else "tier 'nas' is offline: <problem>", so that the
 * tier's name and its state are each said once.  Rotating buffer, as tool_q.
 */
const char *tool_tier_problem(const tier_info *in);

/**
 * The same for a tier's part of a write: "tier 'nas' skipped (offline):
 * <why>" with the tier's name and "offline" said once each.
 */
const char *tool_write_problem(const tier_write_tier *w);

/* ---- plurals ----------------------------------------------------------- */

/** "1 file", "2 files": n and word, with "s" unless n is 1 (one buffer of
 *  8 rotating ones, as tool_q).  plural NULL: word + "s". */
const char *tool_count(uint64_t n, const char *word, const char *plural);

/* ---- colour ------------------------------------------------------------ */

enum tool_color {
	TOOL_COLOR_RESET = 0,
	TOOL_COLOR_BOLD,
	TOOL_COLOR_DIM,
	TOOL_COLOR_RED,
	TOOL_COLOR_GREEN,
	TOOL_COLOR_YELLOW,
	TOOL_COLOR_BLUE,
};

/** Whether text written to f may carry colour. */
int tool_color_enabled(FILE *f);

/**
 * The escape sequence for c on f, or "" when f gets no colour:
 *	printf("%sonline%s", tool_color(stdout, TOOL_COLOR_GREEN),
 *	       tool_color(stdout, TOOL_COLOR_RESET));
 */
const char *tool_color(FILE *f, enum tool_color c);

/* ---- tables ------------------------------------------------------------ */

/**
 * Text table with columns sized to their content, two spaces apart, no
 * trailing blanks.  Widths count characters, not bytes, and skip colour
 * escape sequences, so coloured and UTF-8 cells line up.
 *
 *	tool_table *t = tool_table_new(3);
 *	tool_table_align_right(t, 2);
 *	tool_table_add(t, "NAME"); tool_table_add(t, "URL"); ...
 *	tool_table_add(t, "%s", name); ...
 *	tool_table_print(t, stdout);
 *	tool_table_free(t);
 *
 * Out of memory ends the program (exit 1), as everywhere in the tools.
 */
typedef struct tool_table tool_table;

tool_table *tool_table_new(size_t ncols);
/** Right-align a column (numbers). */
void tool_table_align_right(tool_table *t, size_t col);
/** Add the next cell, row by row; a row ends after ncols cells. */
void tool_table_add(tool_table *t, const char *fmt, ...) TOOL_PRINTF(2, 3);
/** Add the next cell as is (NULL for an empty one). */
void tool_table_cell(tool_table *t, const char *text);
/** Number of complete or started rows. */
size_t tool_table_rows(const tool_table *t);
/** Print every row; a short last row is padded with empty cells. */
void tool_table_print(const tool_table *t, FILE *f);
void tool_table_free(tool_table *t);

/** Characters that s takes on a terminal (UTF-8 aware, escapes skipped). */
size_t tool_text_width(const char *s);

/* ---- progress ---------------------------------------------------------- */

/** Whether progress lines are drawn (stderr a terminal, no -q, no --json). */
int tool_progress_enabled(void);

/**
 * Replace the progress line with this text ("\r" redraw, cut to the
 * terminal width).  Calls closer than 100 ms to the previous drawing are
 * dropped, so it is cheap to call for every chunk.
 */
void tool_progress(const char *fmt, ...) TOOL_PRINTF(1, 2);

/** Erase the progress line (messages and tool_finish() do it too). */
void tool_progress_done(void);

/**
 * Progress toward known totals, for a progress line: "30% ETA 0:03: 12.0
 * MiB of 40.0 MiB, 120 of 400 files, 8.1 MiB/s".  The percentage is the
 * smaller of bytes and files done (many small files take their time as a
 * few large ones do); the ETA extrapolates it from the time since
 * tool_meter_start(), once a second has passed; the rate is the average.
 * Done past the total (the total was an estimate) shows the total.
 */
typedef struct {
	uint64_t total_bytes, total_files;
	int64_t start_ms;
	/** What the second count counts: "file" unless set after
	 *  tool_meter_start() ("revision", "pack"); "s" makes the plural. */
	const char *unit;
} tool_meter;

void tool_meter_start(tool_meter *m, uint64_t total_bytes,
                      uint64_t total_files);
/** The text for bytes and files done; valid until the next call. */
const char *tool_meter_text(const tool_meter *m, uint64_t bytes,
                            uint64_t files);
/** Bytes a second since tool_meter_start(), 0 in its first second. */
uint64_t tool_meter_rate(const tool_meter *m, uint64_t bytes);

/* ---- memory ------------------------------------------------------------ */

/** Allocation for the tools: prints "out of memory" and exits 1 on failure. */
void *tool_xmalloc(size_t n);
void *tool_xrealloc(void *p, size_t n);
char *tool_xstrdup(const char *s);
/** vasprintf that dies on failure. */
char *tool_xvasprintf(const char *fmt, va_list ap);
char *tool_xasprintf(const char *fmt, ...) TOOL_PRINTF(1, 2);

#endif
