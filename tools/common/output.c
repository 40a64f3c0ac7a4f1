#include "output.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "tier.h"

#include "exitcodes.h"
#include "opt.h"

static const char *g_name = "tier";
static int g_quiet, g_json, g_verbose;
static int g_json_emitted;

/* The progress line currently on stderr, if any. */
static int p_active;
static size_t p_width;
static struct timespec p_last;

/* ---- memory ------------------------------------------------------------ */

static void out_of_memory(void)
{
	/* No allocation here: this is what runs when there is none left. */
	fprintf(stderr, "%s: out of memory\n", g_name);
	exit(TOOL_EXIT_ERROR);
}

void *tool_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		out_of_memory();
	return p;
}

void *tool_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		out_of_memory();
	return q;
}

char *tool_xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		out_of_memory();
	return d;
}

char *tool_xvasprintf(const char *fmt, va_list ap)
{
	char *s;
	if (vasprintf(&s, fmt, ap) < 0)
		out_of_memory();
	return s;
}

char *tool_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	s = tool_xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

/* ---- messages ---------------------------------------------------------- */

const char *tool_name(void)
{
	return g_name;
}

void tool_set_name(const char *name)
{
	if (name && *name)
		g_name = name;
}

void tool_output_setup(const struct tool_common *c)
{
	g_quiet = c->quiet;
	g_json = c->json;
	g_verbose = c->verbose;
}

int tool_is_verbose(int level)
{
	return g_verbose >= level;
}

/* A message is one line whatever a lower layer put in it. */
static void fold_controls(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			*s = ' ';
}

static void vmessage(enum tool_color name_color, const char *label,
                     enum tool_color label_color, const char *suffix,
                     const char *fmt, va_list ap)
{
	char *msg = tool_xvasprintf(fmt, ap);
	const char *reset = tool_color(stderr, TOOL_COLOR_RESET);
	int cname = name_color != TOOL_COLOR_RESET;
	int clabel = label && label_color != TOOL_COLOR_RESET;

	fold_controls(msg);
	tool_progress_done();
	/* One fprintf so that the line reaches stderr in one piece. */
	fprintf(stderr, "%s%s:%s %s%s%s%s%s\n",
	        cname ? tool_color(stderr, name_color) : "", g_name,
	        cname ? reset : "",
	        clabel ? tool_color(stderr, label_color) : "",
	        label ? label : "", clabel ? reset : "", msg,
	        suffix ? suffix : "");
	free(msg);
}

void tool_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmessage(TOOL_COLOR_RED, NULL, TOOL_COLOR_RESET, NULL, fmt, ap);
	va_end(ap);
}

int tool_usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmessage(TOOL_COLOR_RED, NULL, TOOL_COLOR_RESET, " (see --help)", fmt,
	         ap);
	va_end(ap);
	return TOOL_EXIT_USAGE;
}

void tool_warning(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmessage(TOOL_COLOR_RESET, "warning: ", TOOL_COLOR_YELLOW, NULL, fmt,
	         ap);
	va_end(ap);
}

void tool_info(const char *fmt, ...)
{
	va_list ap;
	if (g_quiet)
		return;
	va_start(ap, fmt);
	vmessage(TOOL_COLOR_RESET, NULL, TOOL_COLOR_RESET, NULL, fmt, ap);
	va_end(ap);
}

void tool_verbose(int level, const char *fmt, ...)
{
	va_list ap;
	if (g_verbose < level)
		return;
	va_start(ap, fmt);
	vmessage(TOOL_COLOR_RESET, NULL, TOOL_COLOR_RESET, NULL, fmt, ap);
	va_end(ap);
}

int tool_fail(int tier_code)
{
	const char *msg;
	int code;

	if (tier_code == TIER_OK)
		return TOOL_EXIT_OK;
	code = tool_exit_from_error(tier_code);
	msg = tier_error_last();
	if (!*msg)
		msg = tier_error_name(tier_code);
	tool_error("%s", msg);

	if (g_json && !g_json_emitted) {
		json_t *err = json_pack(
		        "{s:{s:s, s:s, s:i}}", "error", "message", msg, "code",
		        tier_error_name(tier_code), "exit", code);
		/* A message that is not UTF-8 cannot go into JSON as is. */
		if (!err)
			err = json_pack("{s:{s:s, s:i}}", "error", "code",
			                tier_error_name(tier_code), "exit",
			                code);
		tool_json_emit(err);
	}
	return code;
}

/* ---- JSON -------------------------------------------------------------- */

int tool_json_emit(json_t *obj)
{
	int failed;

	if (!obj) {
		tool_error("cannot build the JSON output: out of memory");
		return TOOL_EXIT_ERROR;
	}
	tool_progress_done();
	/* One line ("{...}\n") so that a stream of objects stays parseable. */
	failed = json_dumpf(obj, stdout, JSON_INDENT(0)) != 0;
	json_decref(obj);
	if (!failed)
		failed = putchar('\n') == EOF || fflush(stdout) != 0;
	g_json_emitted = 1;
	if (failed) {
		tool_error("cannot write to stdout: %s", strerror(errno));
		return TOOL_EXIT_ERROR;
	}
	return 0;
}

int tool_json_emitted(void)
{
	return g_json_emitted;
}

/* ---- colour ------------------------------------------------------------ */

int tool_color_enabled(FILE *f)
{
	const char *nc = getenv("NO_COLOR");
	const char *term = getenv("TERM");

	if (nc && *nc)
		return 0;
	if (!term || !*term || strcmp(term, "dumb") == 0)
		return 0;
	return isatty(fileno(f));
}

const char *tool_color(FILE *f, enum tool_color c)
{
	static const char *const codes[] = {
	        [TOOL_COLOR_RESET] = "\033[0m",
	        [TOOL_COLOR_BOLD] = "\033[1m",
	        [TOOL_COLOR_DIM] = "\033[2m",
	        [TOOL_COLOR_RED] = "\033[31m",
	        [TOOL_COLOR_GREEN] = "\033[32m",
	        [TOOL_COLOR_YELLOW] = "\033[33m",
	        [TOOL_COLOR_BLUE] = "\033[34m",
	};

	if ((size_t)c >= sizeof(codes) / sizeof(codes[0]) ||
	    !tool_color_enabled(f))
		return "";
	return codes[c];
}

/* ---- tables ------------------------------------------------------------ */

struct tool_table {
	size_t ncols;
	char **cells;
	size_t ncells;
	size_t alloc;
	unsigned char *right;
};

/* Skip one escape sequence (CSI "ESC [ ... final" or "ESC x"). */
static const char *skip_escape(const char *s)
{
	s++;
	if (*s == '[') {
		s++;
		while (*s && !((unsigned char)*s >= 0x40 &&
		               (unsigned char)*s <= 0x7e))
			s++;
	}
	return *s ? s + 1 : s;
}

size_t tool_text_width(const char *s)
{
	size_t w = 0;

	while (*s) {
		unsigned char ch = (unsigned char)*s;
		if (ch == 0x1b) {
			s = skip_escape(s);
			continue;
		}
		/* Count UTF-8 lead bytes and ASCII, not continuation bytes. */
		if ((ch & 0xc0) != 0x80 && ch >= 0x20)
			w++;
		s++;
	}
	return w;
}

tool_table *tool_table_new(size_t ncols)
{
	tool_table *t = tool_xmalloc(sizeof(*t));
	t->ncols = ncols ? ncols : 1;
	t->cells = NULL;
	t->ncells = 0;
	t->alloc = 0;
	t->right = tool_xmalloc(t->ncols);
	memset(t->right, 0, t->ncols);
	return t;
}

void tool_table_align_right(tool_table *t, size_t col)
{
	if (col < t->ncols)
		t->right[col] = 1;
}

static void table_push(tool_table *t, char *cell)
{
	fold_controls(cell);
	if (t->ncells == t->alloc) {
		if (t->alloc > SIZE_MAX / 2 / sizeof(char *))
			out_of_memory();
		t->alloc = t->alloc ? t->alloc * 2 : 16;
		t->cells = tool_xrealloc(t->cells, t->alloc * sizeof(char *));
	}
	t->cells[t->ncells++] = cell;
}

void tool_table_add(tool_table *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	table_push(t, tool_xvasprintf(fmt, ap));
	va_end(ap);
}

void tool_table_cell(tool_table *t, const char *text)
{
	table_push(t, tool_xstrdup(text ? text : ""));
}

size_t tool_table_rows(const tool_table *t)
{
	return (t->ncells + t->ncols - 1) / t->ncols;
}

static void pad(FILE *f, size_t n)
{
	while (n--)
		fputc(' ', f);
}

void tool_table_print(const tool_table *t, FILE *f)
{
	size_t rows = tool_table_rows(t);
	size_t *width = tool_xmalloc(t->ncols * sizeof(size_t));
	size_t r, c;

	memset(width, 0, t->ncols * sizeof(size_t));
	for (r = 0; r < t->ncells; r++) {
		size_t w = tool_text_width(t->cells[r]);
		if (w > width[r % t->ncols])
			width[r % t->ncols] = w;
	}

	if (f == stdout || f == stderr)
		tool_progress_done();
	for (r = 0; r < rows; r++) {
		const char *const *row =
		        (const char *const *)t->cells + r * t->ncols;
		size_t have = t->ncells - r * t->ncols;
		size_t last = 0;

		if (have > t->ncols)
			have = t->ncols;
		/* Stop after the last cell that shows, so no trailing blanks. */
		for (c = 0; c < have; c++)
			if (*row[c] || t->right[c])
				last = c;
		for (c = 0; c <= last && c < have; c++) {
			size_t w = tool_text_width(row[c]);
			if (c > 0)
				fputs("  ", f);
			if (t->right[c])
				pad(f, width[c] - w);
			fputs(row[c], f);
			if (!t->right[c] && c < last)
				pad(f, width[c] - w);
		}
		fputc('\n', f);
	}
	free(width);
}

void tool_table_free(tool_table *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->right);
	free(t);
}

/* ---- progress ---------------------------------------------------------- */

int tool_progress_enabled(void)
{
	return !g_quiet && !g_json && isatty(STDERR_FILENO);
}

static size_t terminal_columns(void)
{
	struct winsize ws;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

/* Cut s to at most max characters, at a UTF-8 character boundary. */
static void cut_to_width(char *s, size_t max)
{
	size_t w = 0;
	char *p;

	for (p = s; *p; p++) {
		if (((unsigned char)*p & 0xc0) == 0x80)
			continue;
		if (w == max) {
			*p = '\0';
			return;
		}
		w++;
	}
}

void tool_progress(const char *fmt, ...)
{
	struct timespec now;
	va_list ap;
	char *line;
	size_t w;

	if (!tool_progress_enabled())
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (p_active) {
		int64_t ms = (int64_t)(now.tv_sec - p_last.tv_sec) * 1000 +
		             (now.tv_nsec - p_last.tv_nsec) / 1000000;
		if (ms >= 0 && ms < 100)
			return;
	}
	p_last = now;

	va_start(ap, fmt);
	line = tool_xvasprintf(fmt, ap);
	va_end(ap);
	fold_controls(line);
	/* A line that wraps cannot be redrawn with '\r'. */
	cut_to_width(line, terminal_columns() - 1);
	w = tool_text_width(line);

	fprintf(stderr, "\r%s", line);
	if (p_active && w < p_width)
		pad(stderr, p_width - w);
	fflush(stderr);
	free(line);
	p_active = 1;
	p_width = w > p_width ? w : p_width;
}

void tool_progress_done(void)
{
	if (!p_active)
		return;
	fputc('\r', stderr);
	pad(stderr, p_width);
	fputc('\r', stderr);
	fflush(stderr);
	p_active = 0;
	p_width = 0;
}
