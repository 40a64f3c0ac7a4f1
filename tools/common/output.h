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
#include <stdio.h>

#include <jansson.h>

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

/* ---- memory ------------------------------------------------------------ */

/** Allocation for the tools: prints "out of memory" and exits 1 on failure. */
void *tool_xmalloc(size_t n);
void *tool_xrealloc(void *p, size_t n);
char *tool_xstrdup(const char *s);
/** vasprintf that dies on failure. */
char *tool_xvasprintf(const char *fmt, va_list ap);
char *tool_xasprintf(const char *fmt, ...) TOOL_PRINTF(1, 2);

#endif
