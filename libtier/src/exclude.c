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
		if (n == 0) { /* "a//b": an empty component adds nothing */
			if (!*s)
				break;
			s++;
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
	if (pattern[0] == '!')
		return bad(ex, pattern, "'!' (negation) is not supported");
	size_t n = strlen(pattern);
	char *body = strdup(pattern);
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

static int match_upto(const tier_exclude *ex, const char *path, int is_dir,
                      int ancestors)
{
	if (!ex || !ex->npat)
		return 0;
	char *copy = strdup(path), **comp = NULL;
	ssize_t got = copy ? components(copy, &comp) : -1;
	int hit = 0;
	/* out of memory: nothing is left out (the push goes on) */
	size_t nc = got < 0 ? 0 : (size_t)got;
	for (size_t len = ancestors ? 1 : nc; len && len <= nc && !hit; len++)
		for (size_t i = 0; i < ex->npat && !hit; i++)
			hit = match_one(&ex->pat[i], comp, len,
			                len < nc ? 1 : is_dir);
	free(copy);
	free(comp);
	return hit;
}

int tier_exclude_match(const tier_exclude *ex, const char *path, int is_dir)
{
	return match_upto(ex, path, is_dir, 0);
}

int tier_exclude_match_path(const tier_exclude *ex, const char *path,
                            int is_dir)
{
	return match_upto(ex, path, is_dir, 1);
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
