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
#include "util/text.h"

#include "exitcodes.h"
#include "opt.h"
#include "session.h"

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

void tool_output_json(int on)
{
	g_json = on;
}

int tool_json_mode(void)
{
	return g_json;
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
	char *msg = tool_xvasprintf(fmt, ap);
	va_end(ap);
	tool_error("%s (see --help)", msg);
	tool_json_error(tier_error_name(TIER_EUSAGE), TOOL_EXIT_USAGE, msg);
	free(msg);
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
	tool_json_error(tier_error_name(tier_code), code, msg);
	return code;
}

void tool_json_error(const char *code, int exit_code, const char *message)
{
	if (!g_json || g_json_emitted)
		return;
	tool_json_emit(json_pack("{s:{s:s, s:i, s:o}}", "error", "code", code,
	                         "exit", exit_code, "message",
	                         tool_json_text(message)));
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

void tool_json_stream_begin(void)
{
	tool_progress_done();
	g_json_emitted = 1;
}

int tool_json_stream_put(json_t *v)
{
	int failed;
	if (!v) {
		tool_error("cannot build the JSON output: out of memory");
		return TOOL_EXIT_ERROR;
	}
	failed = json_dumpf(v, stdout, JSON_COMPACT | JSON_ENCODE_ANY) != 0;
	json_decref(v);
	return failed ? TOOL_EXIT_ERROR : 0;
}

/* ---- names in text ---------------------------------------------------- */

#define RING 8

/* Rotating heap buffers: several results may sit in one printf. */
static char *ring_take(size_t need)
{
	static char *buf[RING];
	static size_t cap[RING];
	static unsigned next;
	unsigned i = next++ % RING;

	if (cap[i] < need) {
		buf[i] = tool_xrealloc(buf[i], need);
		cap[i] = need;
	}
	return buf[i];
}

const char *tool_q(const char *s)
{
	tier_buf b = TIER_BUF_INIT;
	char *out;

	if (!s)
		s = "";
	if (tier_quote_path(&b, s, strlen(s)) < 0 || !b.ptr) {
		tier_buf_dispose(&b);
		if (*s)
			out_of_memory();
		out = ring_take(1);
		*out = '\0';
		return out;
	}
	out = ring_take(b.size + 1);
	memcpy(out, b.ptr, b.size);
	out[b.size] = '\0';
	tier_buf_dispose(&b);
	return out;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	uint32_t c;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, c = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, c = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, c = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return len;
}

int tool_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		size_t l = utf8_seq(p + i, n - i);
		/* NUL cannot be in a C string, and jansson refuses it too */
		if (!l || p[i] == 0)
			return 0;
		i += l;
	}
	return 1;
}

/* ---- JSON: names and the object kinds ---------------------------------- */

json_t *tool_json_text(const char *s)
{
	size_t n, i = 0, o = 0;
	char *fixed;
	json_t *j;

	if (!s)
		return json_null();
	n = strlen(s);
	if (tool_utf8_valid(s, n))
		return json_stringn(s, n);
	/* every invalid byte becomes U+FFFD (3 bytes) */
	if (n > (SIZE_MAX - 1) / 3)
		out_of_memory();
	fixed = tool_xmalloc(3 * n + 1);
	while (i < n) {
		size_t l = utf8_seq((const unsigned char *)s + i, n - i);
		if (l) {
			memcpy(fixed + o, s + i, l);
			o += l;
			i += l;
		} else {
			memcpy(fixed + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	j = json_stringn(fixed, o);
	free(fixed);
	return j;
}

static json_t *base64(const char *s)
{
	static const char tab[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i, o = 0;
	char *out;
	json_t *j;

	if (n > SIZE_MAX / 2)
		out_of_memory();
	out = tool_xmalloc((n + 2) / 3 * 4 + 1);
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 |
		             p[i + 2];
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = tab[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 |
		             (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	j = json_string(out);
	free(out);
	return j;
}

static int plain(const char *s)
{
	return !s || tool_utf8_valid(s, strlen(s));
}

void tool_json_set_name(json_t *obj, const char *key, const char *s)
{
	json_object_set_new(obj, key, tool_json_text(s));
	if (!plain(s)) {
		char *k = tool_xasprintf("%s_b64", key);
		json_object_set_new(obj, k, base64(s));
		free(k);
	}
}

void tool_json_set_names(json_t *obj, const char *key, const char *const *names,
                         size_t n)
{
	json_t *a = json_array();
	int exact = 1;
	size_t i;

	for (i = 0; i < n; i++) {
		json_array_append_new(a, tool_json_text(names[i]));
		exact &= plain(names[i]);
	}
	json_object_set_new(obj, key, a);
	if (!exact) {
		char *k = tool_xasprintf("%s_b64", key);
		json_t *b = json_array();
		for (i = 0; i < n; i++)
			json_array_append_new(b, base64(names[i]));
		json_object_set_new(obj, k, b);
		free(k);
	}
}

void tool_stats_init(tool_stats *s)
{
	for (size_t i = 0; i < TOOL_STAT_COUNT; i++)
		s->v[i] = TOOL_STAT_ABSENT;
}

json_t *tool_json_stats(const tool_stats *s)
{
	static const char *const names[TOOL_STAT_COUNT] = {
	        [TOOL_STAT_FILES] = "files",
	        [TOOL_STAT_DIRS] = "dirs",
	        [TOOL_STAT_OTHERS] = "others",
	        [TOOL_STAT_BYTES] = "bytes",
	        [TOOL_STAT_UNCHANGED_FILES] = "unchanged_files",
	        [TOOL_STAT_READ_BYTES] = "read_bytes",
	        [TOOL_STAT_CHUNKS] = "chunks",
	        [TOOL_STAT_NEW_CHUNKS] = "new_chunks",
	        [TOOL_STAT_NEW_BYTES] = "new_bytes",
	        [TOOL_STAT_STORED_BYTES] = "stored_bytes",
	        [TOOL_STAT_PACKS] = "packs",
	        [TOOL_STAT_ERRORS] = "errors",
	        [TOOL_STAT_CHANGED] = "changed",
	        [TOOL_STAT_DAMAGED] = "damaged",
	        [TOOL_STAT_TIERS] = "tiers",
	        [TOOL_STAT_REVISIONS] = "revisions",
	        [TOOL_STAT_SKIPPED] = "skipped",
	        [TOOL_STAT_LOG_BYTES] = "log_bytes",
	        [TOOL_STAT_RESUMED_PACKS] = "resumed_packs",
	        [TOOL_STAT_EXCLUDED_FILES] = "excluded_files",
	        [TOOL_STAT_EXCLUDED_BYTES] = "excluded_bytes",
	        [TOOL_STAT_EXCLUDED_DIRS] = "excluded_dirs",
	};
	json_t *o = json_object();

	for (size_t i = 0; i < TOOL_STAT_COUNT; i++) {
		int64_t x = s->v[i];
		if (x == TOOL_STAT_ABSENT)
			continue;
		json_object_set_new(o, names[i],
		                    x < 0 ? json_null()
		                          : json_integer((json_int_t)x));
	}
	return o;
}

json_t *tool_json_tier(const tier_vault *v, size_t i,
                       const tier_write_result *res)
{
	const tier_info *in = tier_vault_tier_info(v, i);
	/* a revision is known only from a tier that answered with its log */
	int known = in->online && in->state != TIER_STATE_DAMAGED &&
	            in->state != TIER_STATE_REFUSED &&
	            in->state != TIER_STATE_OFFLINE;
	json_t *t = json_object();

	json_object_set_new(t, "name", tool_json_text(in->name));
	json_object_set_new(t, "url", tool_json_text(in->url));
	json_object_set_new(t, "online", json_boolean(in->online));
	/* the library's word, except that an ok tier not at the newest
	 * revision is "behind", as tier-status says */
	json_object_set_new(
	        t, "state",
	        json_string(in->state == TIER_STATE_OK && !in->synchronized
	                            ? "behind"
	                            : tier_state_name(in->state)));
	json_object_set_new(t, "revision",
	                    known ? json_integer((json_int_t)in->revision)
	                          : json_null());
	json_object_set_new(t, "head",
	                    known && in->head[0] ? json_string(in->head)
	                                         : json_null());
	json_object_set_new(t, "synchronized", json_boolean(in->synchronized));
	json_object_set_new(
	        t, "stored_revision",
	        in->stored_head[0]
	                ? json_integer((json_int_t)in->stored_revision)
	                : json_null());
	json_object_set_new(t, "problem", tool_json_text(in->problem));
	for (size_t k = 0; res && k < res->ntiers; k++) {
		const tier_write_tier *w = &res->tiers[k];
		if (strcmp(w->name, in->name) != 0)
			continue;
		json_object_set_new(
		        t, "result",
		        json_string(tier_write_outcome_name(w->outcome)));
		if (w->outcome != TIER_WRITE_WRITTEN)
			json_object_set_new(
			        t, "error",
			        tool_json_text(
			                w->error[0] ? w->error
			                            : tier_write_outcome_name(
			                                      w->outcome)));
	}
	return t;
}

json_t *tool_json_tiers(const tier_vault *v, const tier_write_result *res)
{
	json_t *a = json_array();
	for (size_t i = 0; i < tier_vault_tier_count(v); i++)
		json_array_append_new(a, tool_json_tier(v, i, res));
	return a;
}

void tool_time_rfc3339(char *out, size_t cap, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	long off;
	size_t n;

	tzset();
	if (!localtime_r(&tt, &tm)) {
		snprintf(out, cap, "%lld", (long long)t);
		return;
	}
	off = tm.tm_gmtoff / 60;
	n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, cap - n, "%c%02ld:%02ld", off < 0 ? '-' : '+',
	         labs(off) / 60, labs(off) % 60);
}

void tool_time_text(char *out, size_t cap, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	tzset();
	if (!localtime_r(&tt, &tm) ||
	    !strftime(out, cap, "%Y-%m-%d %H:%M:%S %z", &tm))
		snprintf(out, cap, "%lld", (long long)t);
}

static json_t *stat_or_null(int64_t x)
{
	return x < 0 ? json_null() : json_integer((json_int_t)x);
}

json_t *tool_json_revision(const tier_log_entry *e, const char *const *paths,
                           size_t npaths)
{
	char when[64];
	json_t *o = json_object();

	tool_time_rfc3339(when, sizeof(when), e->time);
	json_object_set_new(o, "revision",
	                    json_integer((json_int_t)e->revision));
	json_object_set_new(o, "commit", json_string(e->commit));
	json_object_set_new(o, "time", json_string(when));
	json_object_set_new(o, "installation", tool_json_text(e->installation));
	json_object_set_new(o, "host", tool_json_text(e->host));
	json_object_set_new(o, "user", tool_json_text(e->user));
	json_object_set_new(o, "op", tool_json_text(e->op));
	json_object_set_new(o, "summary", tool_json_text(e->summary));
	tool_json_set_names(o, "paths", paths, npaths);
	json_object_set_new(o, "stats",
	                    json_pack("{s:o, s:o, s:o, s:o}", "files",
	                              stat_or_null(e->files), "bytes",
	                              stat_or_null(e->bytes), "new_bytes",
	                              stat_or_null(e->new_bytes), "packs",
	                              stat_or_null(e->packs)));
	return o;
}

static char *ring_printf(const char *fmt, ...) TOOL_PRINTF(1, 2);
static char *ring_printf(const char *fmt, ...)
{
	va_list ap;
	char *tmp, *out;

	va_start(ap, fmt);
	tmp = tool_xvasprintf(fmt, ap);
	va_end(ap);
	out = ring_take(strlen(tmp) + 1);
	strcpy(out, tmp);
	free(tmp);
	return out;
}

/* Whether msg names tier `name` already ("tier 'nas' ..."). */
static int names_tier(const char *msg, const char *name)
{
	char *needle = tool_xasprintf("'%s'", name);
	int found = strstr(msg, needle) != NULL;
	free(needle);
	return found;
}

/* Whether msg says the word (offline, ...) already. */
static int says(const char *msg, const char *word)
{
	return strstr(msg, word) != NULL;
}

const char *tool_tier_problem(const tier_info *in)
{
	const char *state = tier_state_name(in->state);

	if (!in->problem || !*in->problem)
		return ring_printf("tier '%s' is %s", tool_q(in->name), state);
	if (names_tier(in->problem, in->name))
		return ring_printf("%s", in->problem);
	if (says(in->problem, state))
		return ring_printf("tier '%s': %s", tool_q(in->name),
		                   in->problem);
	return ring_printf("tier '%s' is %s: %s", tool_q(in->name), state,
	                   in->problem);
}

const char *tool_write_problem(const tier_write_tier *w)
{
	const char *why = w->error[0] ? w->error : "";
	const char *what = w->outcome == TIER_WRITE_SKIPPED_OFFLINE ? "offline"
	                   : w->outcome == TIER_WRITE_SKIPPED_UNSYNCHRONIZED
	                           ? "unsynchronised"
	                           : NULL;
	const char *verb =
	        w->outcome == TIER_WRITE_FAILED ? "failed" : "skipped";

	/* "tier 'nas' is offline: ..." says both already */
	if (names_tier(why, w->name)) {
		if (!what || says(why, what))
			return ring_printf("%s; %s", why, verb);
		return ring_printf("%s; %s (%s)", why, verb, what);
	}
	if (!what || says(why, what))
		return ring_printf("tier '%s' %s%s%s", tool_q(w->name), verb,
		                   *why ? ": " : "", why);
	return ring_printf("tier '%s' %s (%s)%s%s", tool_q(w->name), verb, what,
	                   *why ? ": " : "", why);
}

/* ---- plurals ----------------------------------------------------------- */

const char *tool_count(uint64_t n, const char *word, const char *plural)
{
	char *p;
	int len;

	if (n == 1)
		len = snprintf(NULL, 0, "1 %s", word);
	else if (plural)
		len = snprintf(NULL, 0, "%llu %s", (unsigned long long)n,
		               plural);
	else
		len = snprintf(NULL, 0, "%llu %ss", (unsigned long long)n,
		               word);
	p = ring_take((size_t)len + 1);
	if (n == 1)
		snprintf(p, (size_t)len + 1, "1 %s", word);
	else if (plural)
		snprintf(p, (size_t)len + 1, "%llu %s", (unsigned long long)n,
		         plural);
	else
		snprintf(p, (size_t)len + 1, "%llu %ss", (unsigned long long)n,
		         word);
	return p;
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

/*
 * A cell is text the tool composed (names already quoted with tool_q):
 * the colour sequences tool_color() gives are kept, any other control
 * byte becomes a space, so that nothing else moves the cursor.
 */
static void fold_controls_keep_sgr(char *s)
{
	while (*s) {
		if (*s == '\033' && s[1] == '[') {
			char *p = s + 2;
			while ((*p >= '0' && *p <= '9') || *p == ';')
				p++;
			if (*p == 'm') {
				s = p + 1;
				continue;
			}
		}
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
		s++;
	}
}

static void table_push(tool_table *t, char *cell)
{
	fold_controls_keep_sgr(cell);
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

/* ---- progress toward totals ---------------------------------------------- */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tool_meter_start(tool_meter *m, uint64_t total_bytes, uint64_t total_files)
{
	m->total_bytes = total_bytes;
	m->total_files = total_files;
	m->start_ms = mono_ms();
	m->unit = NULL;
}

uint64_t tool_meter_rate(const tool_meter *m, uint64_t bytes)
{
	int64_t ms = mono_ms() - m->start_ms;
	return ms >= 1000 ? (uint64_t)((double)bytes * 1000.0 / (double)ms) : 0;
}

/* "0:07", "12:03", "1:02:03". */
static void eta_text(char *out, size_t cap, uint64_t s)
{
	if (s >= 3600)
		snprintf(out, cap, "%llu:%02llu:%02llu",
		         (unsigned long long)(s / 3600),
		         (unsigned long long)(s / 60 % 60),
		         (unsigned long long)(s % 60));
	else
		snprintf(out, cap, "%llu:%02llu", (unsigned long long)(s / 60),
		         (unsigned long long)(s % 60));
}

const char *tool_meter_text(const tool_meter *m, uint64_t bytes, uint64_t files)
{
	static char line[256];
	char a[32], b[32], r[32], eta[32] = "-";
	uint64_t tb = m->total_bytes, tf = m->total_files;
	int64_t ms = mono_ms() - m->start_ms;

	if (bytes > tb)
		bytes = tb;
	if (files > tf)
		files = tf;
	/* the slower of the two decides: many small files, or a few large */
	double fb = tb ? (double)bytes / (double)tb : 1,
	       ff = tf ? (double)files / (double)tf : 1;
	double frac = fb < ff ? fb : ff;
	double rate = ms > 0 ? (double)bytes * 1000.0 / (double)ms : 0;
	if (frac >= 1)
		snprintf(eta, sizeof(eta), "0:00");
	else if (ms >= 1000 && frac > 0)
		eta_text(eta, sizeof(eta),
		         (uint64_t)((double)ms * (1 - frac) / frac / 1000.0 +
		                    0.5));
	tool_size(bytes, a);
	tool_size(tb, b);
	tool_size((uint64_t)rate, r);
	snprintf(line, sizeof(line),
	         "%u%% ETA %s: %s of %s, %llu of %llu %s%s, %s/s",
	         (unsigned)(frac * 100), eta, a, b, (unsigned long long)files,
	         (unsigned long long)tf, m->unit ? m->unit : "file",
	         tf == 1 ? "" : "s", r);
	return line;
}
