/*
 * Excludes (exclude.h): gitignore-style patterns, split into components
 * once; each component is an fnmatch(3) glob (it never sees a '/'), "**"
 * a run of any number of components.
 */
#include "exclude.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "util/posix.h"
#include "util/text.h"

struct pattern {
	char **seg; /* components; "**" is a run of any */
	size_t nseg;
	int anchored; /* from the root; else the last component only */
	int dir_only;
	int negate; /* "!pat": a match keeps the entry */
};

/* --exclude-if-present NAME[:HEADER] */
struct present {
	char *name;
	char *header; /* the file must start with it; NULL: any entry */
};

struct tier_exclude {
	struct pattern *pat;
	size_t npat, cap;
	struct present *present;
	size_t npresent;
	uint64_t larger_than;
	const char *what; /* "exclude", "include": for messages */
};

int tier_exclude_new(tier_exclude **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : tier_error_set(TIER_ERROR, "out of memory");
}

static void pattern_dispose(struct pattern *p)
{
	for (size_t i = 0; i < p->nseg; i++)
		free(p->seg[i]);
	free(p->seg);
}

void tier_exclude_free(tier_exclude *ex)
{
	if (!ex)
		return;
	for (size_t i = 0; i < ex->npat; i++)
		pattern_dispose(&ex->pat[i]);
	free(ex->pat);
	for (size_t i = 0; i < ex->npresent; i++) {
		free(ex->present[i].name);
		free(ex->present[i].header);
	}
	free(ex->present);
	free(ex);
}

/* NULL when the glob is good, else why not. */
static const char *glob_problem(const char *g)
{
	for (const char *s = g; *s; s++) {
		if (*s == '\\') {
			if (!*++s)
				return "it ends in a lone '\\'";
		} else if (*s == '[') {
			const char *e = s + 1;
			if (*e == '!' || *e == '^')
				e++;
			if (*e == ']')
				e++; /* a leading ']' is a member */
			while (*e && *e != ']')
				e++;
			if (!*e)
				return "'[' is never closed";
			s = e;
		}
	}
	return NULL;
}

static int bad(const tier_exclude *ex, const char *pattern, const char *why)
{
	return tier_error_set(TIER_EUSAGE, "bad %s pattern '%s': %s",
	                      ex->what ? ex->what : "exclude",
	                      tier_quote_name(pattern), why);
}

static int split(struct pattern *p, const char *body)
{
	const char *s = body;
	for (;;) {
		size_t n = strcspn(s, "/");
		/* "a//b": an empty component adds nothing; "**" after "**"
		 * neither (it would only make the match slower) */
		if (n == 0 || (n == 2 && !strncmp(s, "**", 2) && p->nseg &&
		               !strcmp(p->seg[p->nseg - 1], "**"))) {
			if (!s[n])
				break;
			s += n + 1;
			continue;
		}
		char **seg = realloc(p->seg, (p->nseg + 1) * sizeof(*seg));
		if (!seg)
			return tier_error_set(TIER_ERROR, "out of memory");
		p->seg = seg;
		if (!(seg[p->nseg] = strndup(s, n)))
			return tier_error_set(TIER_ERROR, "out of memory");
		p->nseg++;
		s += n;
		if (!*s)
			break;
		s++;
	}
	return 0;
}

int tier_exclude_add(tier_exclude *ex, const char *pattern)
{
	struct pattern p = {0};
	const char *why;
	int rc;
	if (!*pattern)
		return tier_error_set(TIER_EUSAGE, "empty %s pattern",
		                      ex->what ? ex->what : "exclude");
	p.negate = pattern[0] == '!';
	size_t n = strlen(pattern + p.negate);
	char *body = strdup(pattern + p.negate);
	if (!body)
		return tier_error_set(TIER_ERROR, "out of memory");
	while (n > 1 && body[n - 1] == '/') {
		body[--n] = '\0';
		p.dir_only = 1;
	}
	/* a '/' at the start or inside anchors, as in git */
	p.anchored = strchr(body, '/') != NULL;
	rc = split(&p, body);
	free(body);
	if (rc == 0 && p.nseg == 0)
		rc = bad(ex, pattern, "it names no file");
	/* per component: a '[' is closed before the next '/' */
	for (size_t i = 0; rc == 0 && i < p.nseg; i++)
		if ((why = glob_problem(p.seg[i])))
			rc = bad(ex, pattern, why);
	if (rc == 0 && ex->npat == ex->cap) {
		size_t cap = ex->cap ? 2 * ex->cap : 8;
		struct pattern *np = realloc(ex->pat, cap * sizeof(*np));
		if (!np)
			rc = tier_error_set(TIER_ERROR, "out of memory");
		else {
			ex->pat = np;
			ex->cap = cap;
		}
	}
	if (rc < 0) {
		pattern_dispose(&p);
		return rc;
	}
	ex->pat[ex->npat++] = p;
	return 0;
}

int tier_exclude_add_file(tier_exclude *ex, const char *file)
{
	FILE *f = fopen(file, "r");
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t len;
	int rc = 0;
	if (!f)
		return tier_error_set_errno(TIER_EUSAGE, errno,
		                            "cannot read exclude file '%s'",
		                            tier_quote_name(file));
	while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (len > 0 &&
		       (line[len - 1] == '\n' || line[len - 1] == '\r' ||
		        line[len - 1] == ' ' || line[len - 1] == '\t'))
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		if ((rc = tier_exclude_add(ex, line)) < 0)
			tier_error_prefix("exclude file '%s' line %zu",
			                  tier_quote_name(file), lineno);
	}
	if (rc == 0 && ferror(f))
		rc = tier_error_set_errno(TIER_EUSAGE, errno,
		                          "cannot read exclude file '%s'",
		                          tier_quote_name(file));
	free(line);
	fclose(f);
	return rc;
}

int tier_exclude_add_if_present(tier_exclude *ex, const char *spec)
{
	const char *colon = strchr(spec, ':');
	size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);
	struct present pr = {0};
	if (!nlen || memchr(spec, '/', nlen) || (colon && !colon[1]))
		return tier_error_set(TIER_EUSAGE,
		                      "bad --exclude-if-present '%s': one "
		                      "file name, no '/', then optionally "
		                      "':' and the text the file starts with",
		                      tier_quote_name(spec));
	if (!(pr.name = strndup(spec, nlen)))
		return tier_error_set(TIER_ERROR, "out of memory");
	if (colon)
		pr.header = strdup(colon + 1);
	else if (!strcmp(pr.name, TIER_CACHEDIR_TAG))
		pr.header = strdup(TIER_CACHEDIR_SIGNATURE);
	int want_header = colon || !strcmp(pr.name, TIER_CACHEDIR_TAG);
	struct present *np = want_header && !pr.header
	                             ? NULL
	                             : realloc(ex->present, (ex->npresent +
	                                                     1) * sizeof(*np));
	if (!np) {
		free(pr.name);
		free(pr.header);
		return tier_error_set(TIER_ERROR, "out of memory");
	}
	ex->present = np;
	np[ex->npresent++] = pr;
	return 0;
}

void tier_exclude_set_larger_than(tier_exclude *ex, uint64_t size)
{
	ex->larger_than = size;
}

uint64_t tier_exclude_larger_than(const tier_exclude *ex)
{
	return ex ? ex->larger_than : 0;
}

int tier_exclude_empty(const tier_exclude *ex)
{
	return !ex || (!ex->npat && !ex->npresent && !ex->larger_than);
}

void tier_exclude_set_what(tier_exclude *ex, const char *what)
{
	ex->what = what;
}

int tier_exclude_dir_only(const tier_exclude *ex)
{
	for (size_t i = 0; ex && i < ex->npat; i++)
		if (ex->pat[i].dir_only)
			return 1;
	return 0;
}

int tier_exclude_anchored(const tier_exclude *ex)
{
	for (size_t i = 0; ex && i < ex->npat; i++)
		if (ex->pat[i].anchored)
			return 1;
	return 0;
}

/* Components seg[0..ns) against path components comp[0..nc). */
static int match_segs(char *const *seg, size_t ns, char *const *comp, size_t nc)
{
	while (ns > 0) {
		if (!strcmp(seg[0], "**")) {
			/* "**" takes 0..nc components; a trailing one needs 1 */
			if (ns == 1)
				return nc > 0;
			for (size_t k = 0; k <= nc; k++)
				if (match_segs(seg + 1, ns - 1, comp + k,
				               nc - k))
					return 1;
			return 0;
		}
		if (nc == 0 || fnmatch(seg[0], comp[0], 0) != 0)
			return 0;
		seg++, ns--, comp++, nc--;
	}
	return nc == 0;
}

static int match_one(const struct pattern *p, char *const *comp, size_t nc,
                     int is_dir)
{
	if (p->dir_only && !is_dir)
		return 0;
	if (!p->anchored)
		return nc > 0 && match_segs(p->seg, p->nseg, comp + nc - 1, 1);
	return match_segs(p->seg, p->nseg, comp, nc);
}

/*
 * The components of path, split in place (empty ones dropped: "a//b" is
 * "a/b"); *out is malloc'd.  -1 when out of memory.
 */
static ssize_t components(char *path, char ***out)
{
	size_t cap = 1, n = 0;
	for (const char *s = path; *s; s++)
		cap += *s == '/';
	char **comp = malloc(cap * sizeof(*comp));
	if (!(*out = comp))
		return -1;
	for (char *s = path; *s;) {
		char *e = strchr(s, '/');
		if (e)
			*e = '\0';
		if (*s)
			comp[n++] = s;
		if (!e)
			break;
		s = e + 1;
	}
	return (ssize_t)n;
}

/* A path split into its components (split_path). */
struct split {
	char *copy;
	char **comp;
	size_t nc;
};

/* Out of memory: no components (nothing matches, the push goes on). */
static void split_path(struct split *sp, const char *path)
{
	ssize_t got;
	sp->comp = NULL;
	sp->copy = strdup(path);
	got = sp->copy ? components(sp->copy, &sp->comp) : -1;
	sp->nc = got < 0 ? 0 : (size_t)got;
}

static void split_dispose(struct split *sp)
{
	free(sp->copy);
	free(sp->comp);
}

/*
 * Whether the last pattern that matches excludes (1) or keeps (0, a
 * negation; also when none matches).  alt[0]'s first len components are
 * tried with every pattern, the other alternatives whole with the
 * anchored ones.
 */
static int verdict(const tier_exclude *ex, const struct split *alt, size_t nalt,
                   size_t len, int is_dir)
{
	for (size_t i = ex->npat; i-- > 0;) {
		const struct pattern *p = &ex->pat[i];
		int hit = len > 0 && match_one(p, alt[0].comp, len, is_dir);
		for (size_t a = 1; !hit && p->anchored && a < nalt; a++)
			hit = alt[a].nc > 0 &&
			      match_one(p, alt[a].comp, alt[a].nc, is_dir);
		if (hit)
			return !p->negate;
	}
	return 0;
}

#define MAX_ALT 8

int tier_exclude_match_alt(const tier_exclude *ex, const char *const *paths,
                           size_t n, int is_dir)
{
	struct split alt[MAX_ALT];
	int out;
	if (!ex || !ex->npat || !n)
		return 0;
	if (n > MAX_ALT)
		n = MAX_ALT;
	for (size_t a = 0; a < n; a++)
		split_path(&alt[a], paths[a]);
	out = verdict(ex, alt, n, alt[0].nc, is_dir);
	for (size_t a = 0; a < n; a++)
		split_dispose(&alt[a]);
	return out;
}

int tier_exclude_match(const tier_exclude *ex, const char *path, int is_dir)
{
	return tier_exclude_match_alt(ex, &path, 1, is_dir);
}

int tier_exclude_match_path(const tier_exclude *ex, const char *path,
                            int is_dir)
{
	struct split sp;
	int out = 0;
	if (!ex || !ex->npat)
		return 0;
	split_path(&sp, path);
	/* top down: an excluded directory holds nothing a negation keeps */
	for (size_t len = 1; len <= sp.nc && !out; len++)
		out = verdict(ex, &sp, 1, len, len < sp.nc ? 1 : is_dir);
	split_dispose(&sp);
	return out;
}

/* Whether the regular file name in dirfd starts with header. */
static int starts_with(int dirfd, const char *name, const char *header)
{
	size_t len = strlen(header), got = 0;
	char *head = malloc(len ? len : 1);
	int fd = head ? openat(dirfd, name,
	                       O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
	              : -1;
	struct stat st;
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		while (got < len) {
			ssize_t r = read(fd, head + got, len - got);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			got += (size_t)r;
		}
	if (fd >= 0)
		close(fd);
	int same = fd >= 0 && got == len && !memcmp(head, header, len);
	free(head);
	return same;
}

int tier_exclude_dir_tagged(const tier_exclude *ex, int dirfd)
{
	struct stat st;
	if (!ex)
		return 0;
	for (size_t i = 0; i < ex->npresent; i++) {
		const struct present *pr = &ex->present[i];
		if (fstatat(dirfd, pr->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!pr->header)
			return 1;
		if (S_ISREG(st.st_mode) &&
		    starts_with(dirfd, pr->name, pr->header))
			return 1;
	}
	return 0;
}
