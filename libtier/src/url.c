/*
 * Tier URLs: "NAME=URL" or "URL".
 *
 * libcurl's URL API does the generic syntax (authority, user info, port,
 * IPv6 hosts, query); this file adds what is ours: the scheme list, the
 * fault+ wrapper, the rules per scheme, derived names and messages that
 * never show a password.  A few checks run on the raw text before curl sees
 * it, because curl 7.88 is lenient where we must not be ("ftp:///x" becomes
 * host "x", "file:rel" is accepted, port 0 is accepted).
 */
#include "tier/location.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "util/buf.h"
#include "util/error.h"

#define NAME_MAX_LEN 64

/* In suggestion order: on a tie the earlier one wins ("ftpp" -> "ftp"). */
static const char *const known_schemes[] = {"file", "ftp", "ftps", "sftp",
                                            "s3"};
#define NSCHEMES (sizeof(known_schemes) / sizeof(known_schemes[0]))

static int is_known_scheme(const char *s)
{
	for (size_t i = 0; i < NSCHEMES; i++)
		if (!strcmp(s, known_schemes[i]))
			return 1;
	return 0;
}

static int name_char(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '.' || c == '-';
}

static int scheme_char(unsigned char c)
{
	return isalnum(c) || c == '+' || c == '.' || c == '-';
}

/* ---- text shown in error messages ------------------------------------ */

/*
 * The URL as the user wrote it, with the password hidden and control
 * characters escaped.  This runs on text curl may have refused, so it
 * over-redacts rather than under-redacts: the user info ends at the last
 * '@' anywhere (a password may hold an unencoded '/', '?' or '#').
 */
static char *shown_text(const char *s)
{
	tier_buf b = TIER_BUF_INIT;
	const char *start = strstr(s, "://");
	const char *at = strrchr(s, '@');
	const char *pw = NULL;

	start = start ? start + 3 : s;
	if (at && at > start) {
		pw = memchr(start, ':', (size_t)(at - start));
		if (pw)
			pw++;
	}
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (pw && p == pw) {
			/* pw == at for an empty password: hide that there is one */
			tier_buf_puts(&b, "***");
			pw = NULL;
			p = at - 1;
			continue;
		}
		if (c < 0x20 || c == 0x7f)
			tier_buf_printf(&b, "\\x%02x", c);
		else
			tier_buf_putc(&b, (char)c);
	}
	if (!b.ptr)
		return tier_strdup("");
	return tier_buf_detach(&b);
}

/* ---- small helpers ---------------------------------------------------- */

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[32];

	/* Schemes are short; anything longer is nowhere near a known one. */
	if (la >= 31 || lb >= 31)
		return (size_t)-1;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			if (up + 1 < best)
				best = up + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

/* The nearest known scheme, or NULL when none is close. */
static const char *nearest_scheme(const char *s)
{
	const char *best = NULL;
	size_t bestd = 3;

	if (!strcmp(s, "ssh") || !strcmp(s, "scp"))
		return "sftp";
	for (size_t i = 0; i < NSCHEMES; i++) {
		size_t d = edit_distance(s, known_schemes[i]);
		/* A distance of 2 is a guess only for longer words. */
		if (d < bestd && (d < 2 || strlen(s) > 3)) {
			bestd = d;
			best = known_schemes[i];
		}
	}
	return best;
}

/* Percent-decode with curl; a NUL byte is refused (returns 1). */
static int decode(char **out, const char *s, size_t len)
{
	int outlen = 0;
	char *d;

	*out = NULL;
	if (len > (size_t)0x7fffffff)
		return tier_error_set(TIER_EUSAGE, "url part too long");
	d = curl_easy_unescape(NULL, s, (int)len, &outlen);
	if (!d)
		return tier_error_set(TIER_ERROR, "out of memory");
	if (memchr(d, '\0', (size_t)outlen)) {
		curl_free(d);
		return 1;
	}
	*out = tier_strndup(d, (size_t)outlen);
	curl_free(d);
	return *out ? 0 : TIER_ERROR;
}

/* Percent-encode a query value; '/' and ':' stay readable. */
static int encode_value(tier_buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int rc;
		if (isalnum(c) || strchr("-._~/:@!$'()*,", c))
			rc = tier_buf_putc(b, (char)c);
		else
			rc = tier_buf_printf(b, "%%%02X", c);
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * Reduce text to [A-Za-z0-9_.-]{1,64}: runs of other bytes become one '_',
 * and none at either end (so "[::1]" gives "1").
 */
static char *sanitise_name(const char *s)
{
	char out[NAME_MAX_LEN + 1];
	size_t n = 0;
	int pending = 0;

	for (; *s && n < NAME_MAX_LEN; s++) {
		unsigned char c = (unsigned char)*s;
		if (!name_char(c)) {
			pending = 1;
			continue;
		}
		if (pending && n > 0 && n < NAME_MAX_LEN - 1)
			out[n++] = '_';
		pending = 0;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return n ? tier_strdup(out) : NULL;
}

static int derive_name(tier_url *u)
{
	const tier_url *base = u->inner ? u->inner : u;
	char *name = NULL;

	if (!strcmp(base->scheme, "file")) {
		const char *last = strrchr(base->path, '/');
		name = sanitise_name(last ? last + 1 : base->path);
	} else if (base->host) {
		name = sanitise_name(base->host);
	}
	/* "file:///" or a host made of symbols: fall back on the scheme. */
	u->name = name ? name : tier_strdup(base->scheme);
	return u->name ? 0 : TIER_ERROR;
}

static int check_name(const char *name, size_t len)
{
	if (len == 0 || len > NAME_MAX_LEN)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (!name_char((unsigned char)name[i]))
			return -1;
	return 0;
}

/* ---- parsing ------------------------------------------------------------ */

/* What every parse step needs to name the URL in a message. */
typedef struct {
	const char *shown; /* whole URL, redacted, as typed */
} ctx;

static int bad(const ctx *c, const char *fmt, const char *arg)
{
	/* fmt holds one %s for arg and then one for the URL, or just the URL */
	if (arg)
		return tier_error_set(TIER_EUSAGE, fmt, arg, c->shown);
	return tier_error_set(TIER_EUSAGE, fmt, c->shown);
}

static int curl_get(CURLU *h, CURLUPart part, char **out)
{
	char *s = NULL;
	CURLUcode rc = curl_url_get(h, part, &s, 0);

	*out = NULL;
	if (rc == CURLUE_OUT_OF_MEMORY)
		return tier_error_set(TIER_ERROR, "out of memory");
	if (rc != CURLUE_OK)
		return 0; /* absent */
	*out = tier_strdup(s);
	curl_free(s);
	return *out ? 0 : TIER_ERROR;
}

/* Decoded path: "/" at least, no "." or "..", no NUL, no trailing '/'. */
static int parse_path(const ctx *c, tier_url *u, const char *raw)
{
	char *p;
	int rc = decode(&p, raw, strlen(raw));
	size_t len;

	if (rc == 1)
		return bad(c,
		           "path of tier url '%s' contains a NUL byte (%%00)",
		           NULL);
	if (rc)
		return rc;
	if (p[0] != '/') {
		/* curl always hands back a leading '/'; be safe anyway */
		free(p);
		return bad(c, "path of tier url '%s' is not absolute", NULL);
	}
	for (const char *seg = p + 1;;) {
		const char *end = strchr(seg, '/');
		size_t n = end ? (size_t)(end - seg) : strlen(seg);
		if ((n == 1 && seg[0] == '.') ||
		    (n == 2 && seg[0] == '.' && seg[1] == '.')) {
			free(p);
			return bad(
			        c,
			        "path of tier url '%s' has a '.' or '..' part: write the path without it",
			        NULL);
		}
		if (!end)
			break;
		seg = end + 1;
	}
	len = strlen(p);
	while (len > 1 && p[len - 1] == '/')
		p[--len] = '\0';
	u->path = p;
	return 0;
}

static int parse_port(const ctx *c, tier_url *u, const char *s)
{
	char *end;
	long v;

	if (!s)
		return 0;
	v = strtol(s, &end, 10);
	if (*end || v < 1 || v > 65535)
		return bad(c, "bad port '%s' in tier url '%s': use 1 to 65535",
		           s);
	u->port = (int)v;
	return 0;
}

/* Map a curl refusal to our one-line message. */
static int curl_refused(const ctx *c, const char *text, CURLUcode rc)
{
	const char *at = strchr(text, '@');
	/* the usual cause of both: a reserved character left unencoded */
	const char *slash_hint =
	        at ? " (write '/' in a user or password as %2F)" : "";
	const char *at_hint =
	        at && strchr(at + 1, '@')
	                ? " (write '@' in a user or password as %40)"
	                : "";

	switch (rc) {
	case CURLUE_OUT_OF_MEMORY:
		return tier_error_set(TIER_ERROR, "out of memory");
	case CURLUE_BAD_PORT_NUMBER:
		return tier_error_set(
		        TIER_EUSAGE,
		        "bad port in tier url '%s': use a number from 1 to 65535%s",
		        c->shown, slash_hint);
	case CURLUE_NO_HOST:
		return bad(c, "missing host in tier url '%s'", NULL);
	case CURLUE_BAD_HOSTNAME:
	case CURLUE_BAD_IPV6:
		return tier_error_set(TIER_EUSAGE,
		                      "bad host name in tier url '%s'%s",
		                      c->shown, at_hint);
	case CURLUE_BAD_LOGIN:
	case CURLUE_BAD_USER:
	case CURLUE_BAD_PASSWORD:
		return bad(c, "bad user or password in tier url '%s'", NULL);
	default: {
		char msg[128];
		snprintf(msg, sizeof(msg), "%s", curl_url_strerror(rc));
		msg[0] = (char)tolower((unsigned char)msg[0]);
		return tier_error_set(TIER_EUSAGE,
		                      "malformed tier url '%s': %s", c->shown,
		                      msg);
	}
	}
}

/* s3 options we understand the values of; other keys are the driver's. */
static int check_s3_query(const ctx *c, const char *q)
{
	for (const char *p = q; p && *p;) {
		const char *end = strchr(p, '&');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n >= 6 && !strncmp(p, "style=", 6)) {
			size_t vn = n - 6;
			if (!(vn == 4 && !strncmp(p + 6, "path", 4)) &&
			    !(vn == 7 && !strncmp(p + 6, "virtual", 7)))
				return bad(
				        c,
				        "bad s3 option in tier url '%s': style must be 'path' or 'virtual'",
				        NULL);
		}
		p = end ? end + 1 : NULL;
	}
	return 0;
}

/*
 * Parse one non-fault URL: text is "scheme://...", scheme already known
 * to be in known_schemes (lowercase in `scheme`).
 */
static int parse_plain(const ctx *c, tier_url *u, const char *scheme,
                       const char *text)
{
	const char *auth = strstr(text, "://") + 3;
	size_t alen = strcspn(auth, "/?#");
	int is_file = !strcmp(scheme, "file");
	int is_s3 = !strcmp(scheme, "s3");
	CURLU *h;
	CURLUcode crc;
	char *tmp = NULL;
	int rc;

	if (is_file && alen) {
		if ((alen == 1 && auth[0] == '.') ||
		    (alen == 2 && !strncmp(auth, "..", 2)) || auth[0] == '~')
			return bad(
			        c,
			        "relative file path in tier url '%s': use an absolute path, like file:///srv/backup",
			        NULL);
		if (!(alen == 9 && !strncasecmp(auth, "localhost", 9))) {
			char host[256];
			snprintf(host, sizeof(host), "%.*s",
			         (int)(alen < 255 ? alen : 255), auth);
			/* the authority may hold user:password@ */
			if (memchr(auth, '@', alen))
				snprintf(host, sizeof(host), "%s", "user@host");
			return tier_error_set(
			        TIER_EUSAGE,
			        "tier url '%s' names remote host '%s': a file:// tier is a local path (mount the share and use file:///mount/point)",
			        c->shown, host);
		}
	}
	if (!is_file && alen == 0)
		return bad(
		        c,
		        is_s3 ? "missing bucket in tier url '%s': use s3://bucket/prefix"
		              : "missing host in tier url '%s'",
		        NULL);

	h = curl_url();
	if (!h)
		return tier_error_set(TIER_ERROR, "out of memory");
	/* PATH_AS_IS: see "." and ".." so we can refuse them, not fold them */
	crc = curl_url_set(h, CURLUPART_URL, text,
	                   CURLU_NON_SUPPORT_SCHEME | CURLU_PATH_AS_IS);
	if (crc) {
		rc = curl_refused(c, text, crc);
		goto out;
	}

	if ((rc = curl_get(h, CURLUPART_FRAGMENT, &tmp)))
		goto out;
	if (tmp) {
		rc = bad(
		        c,
		        "tier url '%s' has a '#' part: write '#' in a path as %%23",
		        NULL);
		goto out;
	}

	u->scheme = tier_strdup(scheme);
	if (!u->scheme) {
		rc = TIER_ERROR;
		goto out;
	}

	if ((rc = curl_get(h, CURLUPART_USER, &tmp)))
		goto out;
	if (tmp) {
		rc = decode(&u->user, tmp, strlen(tmp));
		free(tmp);
		tmp = NULL;
		if (rc == 1)
			rc = bad(c, "user in tier url '%s' contains a NUL byte",
			         NULL);
		if (rc)
			goto out;
	}
	if ((rc = curl_get(h, CURLUPART_PASSWORD, &tmp)))
		goto out;
	if (tmp) {
		rc = decode(&u->password, tmp, strlen(tmp));
		free(tmp);
		tmp = NULL;
		if (rc == 1)
			rc = bad(
			        c,
			        "password in tier url '%s' contains a NUL byte",
			        NULL);
		if (rc)
			goto out;
	}

	if ((rc = curl_get(h, CURLUPART_HOST, &u->host)))
		goto out;
	if (u->host && !*u->host) {
		free(u->host);
		u->host = NULL;
	}
	if (is_file) {
		/* curl drops "localhost"; be explicit rather than rely on it */
		free(u->host);
		u->host = NULL;
	} else if (!u->host) {
		rc = bad(c, "missing host in tier url '%s'", NULL);
		goto out;
	}

	if ((rc = curl_get(h, CURLUPART_PORT, &tmp)))
		goto out;
	rc = parse_port(c, u, tmp);
	free(tmp);
	tmp = NULL;
	if (rc)
		goto out;
	if (is_s3 && u->port) {
		rc = bad(
		        c,
		        "s3 tier url '%s' has a port after the bucket: give the server as ?endpoint=host:port",
		        NULL);
		goto out;
	}

	if ((rc = curl_get(h, CURLUPART_PATH, &tmp)))
		goto out;
	rc = parse_path(c, u, tmp ? tmp : "/");
	free(tmp);
	tmp = NULL;
	if (rc)
		goto out;

	if ((rc = curl_get(h, CURLUPART_QUERY, &u->query)))
		goto out;
	if (u->query && !*u->query) {
		free(u->query);
		u->query = NULL;
	}
	if (is_s3)
		rc = check_s3_query(c, u->query);

out:
	free(tmp);
	curl_url_cleanup(h);
	return rc;
}

/* Take "fault=VALUE" out of the inner URL's query. */
static int take_fault_param(const ctx *c, tier_url *outer)
{
	tier_url *in = outer->inner;
	tier_buf rest = TIER_BUF_INIT;
	char *found = NULL;
	int rc = 0;

	for (const char *p = in->query; p && *p;) {
		const char *end = strchr(p, '&');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n >= 6 && !strncmp(p, "fault=", 6)) {
			if (found) {
				rc = bad(
				        c,
				        "tier url '%s' has more than one 'fault' parameter",
				        NULL);
				goto out;
			}
			rc = decode(&found, p + 6, n - 6);
			if (rc == 1)
				rc = bad(
				        c,
				        "fault control path in tier url '%s' contains a NUL byte",
				        NULL);
			if (rc)
				goto out;
		} else if (n) {
			if ((rest.size && (rc = tier_buf_putc(&rest, '&'))) ||
			    (rc = tier_buf_put(&rest, p, n)))
				goto out;
		}
		p = end ? end + 1 : NULL;
	}
	if (!found || !*found) {
		rc = bad(
		        c,
		        "fault+ tier url '%s' needs a control file: add ?fault=/path/to/control",
		        NULL);
		goto out;
	}
	free(in->query);
	in->query = rest.size ? tier_buf_detach(&rest) : NULL;
	outer->fault_control = found;
	found = NULL;
out:
	free(found);
	tier_buf_dispose(&rest);
	return rc;
}

/* Where the scheme ends, or NULL when text does not start with one. */
static const char *scheme_end(const char *text)
{
	const char *p = text;
	if (!isalpha((unsigned char)*p))
		return NULL;
	while (scheme_char((unsigned char)*p))
		p++;
	return *p == ':' ? p : NULL;
}

static int unknown_scheme(const ctx *c, const char *scheme, int in_fault)
{
	const char *plus = strchr(scheme, '+');
	const char *near = NULL;
	int fault_prefix = in_fault;

	/* "fualt+ftp" and "fault+ftpp": judge each half on its own */
	if (plus) {
		char head[16];
		size_t n = (size_t)(plus - scheme);
		if (n < sizeof(head)) {
			memcpy(head, scheme, n);
			head[n] = '\0';
			if (edit_distance(head, "fault") <= 2) {
				fault_prefix = 1;
				near = is_known_scheme(plus + 1)
				               ? plus + 1
				               : nearest_scheme(plus + 1);
			}
		}
	} else {
		near = nearest_scheme(scheme);
	}
	if (near)
		return tier_error_set(
		        TIER_EUSAGE,
		        "unknown tier scheme '%s%s' in '%s': did you mean '%s%s'?",
		        in_fault ? "fault+" : "", scheme, c->shown,
		        fault_prefix ? "fault+" : "", near);
	return tier_error_set(
	        TIER_EUSAGE,
	        "unknown tier scheme '%s%s' in '%s': use file, ftp, ftps, sftp, s3 or fault+ one of these",
	        in_fault ? "fault+" : "", scheme, c->shown);
}

static int parse_url(const ctx *c, tier_url *u, const char *text, int in_fault)
{
	const char *colon = scheme_end(text);
	char scheme[32];
	size_t slen;

	if (!colon) {
		if (text[0] == '/')
			return tier_error_set(
			        TIER_EUSAGE,
			        "tier url '%s' has no scheme: write file://%s for a local path",
			        c->shown, c->shown);
		return bad(
		        c,
		        "tier url '%s' has no scheme: write file:///path, ftp://host/path, sftp://host/path or s3://bucket",
		        NULL);
	}
	slen = (size_t)(colon - text);
	if (slen >= sizeof(scheme))
		slen = sizeof(scheme) - 1;
	for (size_t i = 0; i < slen; i++)
		scheme[i] = (char)tolower((unsigned char)text[i]);
	scheme[slen] = '\0';

	if (strncmp(colon, "://", 3)) {
		if (!strcmp(scheme, "file") && colon[1] != '/')
			return bad(
			        c,
			        "relative file path in tier url '%s': use an absolute path, like file:///srv/backup",
			        NULL);
		return bad(c, "tier url '%s' is missing '://' after the scheme",
		           NULL);
	}

	if (!strncmp(scheme, "fault+", 6)) {
		int rc;
		if (in_fault)
			return bad(
			        c,
			        "tier url '%s' wraps fault+ in fault+: use one fault+ only",
			        NULL);
		u->scheme = tier_strdup("fault");
		u->inner = tier_calloc(1, sizeof(*u->inner));
		if (!u->scheme || !u->inner)
			return TIER_ERROR;
		if ((rc = parse_url(c, u->inner, text + 6, 1)))
			return rc;
		return take_fault_param(c, u);
	}
	if (!strcmp(scheme, "http") || !strcmp(scheme, "https"))
		return bad(
		        c,
		        "tier url '%s': http is not a tier scheme; for an s3-compatible server use s3://bucket/prefix?endpoint=URL",
		        NULL);
	if (!is_known_scheme(scheme))
		return unknown_scheme(c, scheme, in_fault);
	return parse_plain(c, u, scheme, text);
}

int tier_url_parse(tier_url **out, const char *spec)
{
	const char *eq, *text = spec;
	tier_url *u = NULL;
	ctx c = {NULL};
	int rc;

	*out = NULL;
	if (!spec || !*spec)
		return tier_error_set(TIER_EUSAGE, "empty tier url");

	/* "NAME=URL": a '=' with no ':' or '/' before it */
	eq = strchr(spec, '=');
	if (eq && !memchr(spec, ':', (size_t)(eq - spec)) &&
	    !memchr(spec, '/', (size_t)(eq - spec)))
		text = eq + 1;

	if (!(c.shown = shown_text(text)))
		return TIER_ERROR;
	if (text != spec && check_name(spec, (size_t)(eq - spec))) {
		char *raw = tier_strndup(spec, (size_t)(eq - spec));
		char *name = raw ? shown_text(raw) : NULL;
		rc = tier_error_set(
		        TIER_EUSAGE,
		        "bad tier name '%s' for '%s': use 1 to 64 letters, digits, '_', '.' or '-'",
		        name ? name : "", c.shown);
		free(name);
		free(raw);
		goto fail;
	}
	if (!*text) {
		rc = tier_error_set(TIER_EUSAGE,
		                    "empty tier url for tier '%.*s'",
		                    (int)(eq - spec), spec);
		goto fail;
	}
	for (const char *p = text; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch == ' ') {
			rc = bad(
			        &c,
			        "tier url '%s' contains a space: write it as %%20",
			        NULL);
			goto fail;
		}
		if (ch < 0x20 || ch == 0x7f) {
			rc = bad(&c,
			         "tier url '%s' contains a control character",
			         NULL);
			goto fail;
		}
	}

	if (!(u = tier_calloc(1, sizeof(*u)))) {
		rc = TIER_ERROR;
		goto fail;
	}
	if ((rc = parse_url(&c, u, text, 0)))
		goto fail;
	if (text != spec)
		rc = (u->name = tier_strndup(spec, (size_t)(eq - spec)))
		             ? 0
		             : TIER_ERROR;
	else
		rc = derive_name(u);
	if (rc)
		goto fail;
	free((char *)c.shown);
	*out = u;
	return 0;

fail:
	free((char *)c.shown);
	tier_url_free(u);
	return rc;
}

/* ---- canonical text ----------------------------------------------------- */

/* Without curl (it refused a hand-built struct): plain concatenation. */
static int assemble_plain(tier_buf *b, const tier_url *u)
{
	tier_buf_printf(b, "%s://", u->scheme ? u->scheme : "");
	if (u->user || u->password)
		tier_buf_printf(b, "%s%s@", u->user ? u->user : "",
		                u->password ? ":***" : "");
	if (u->host)
		tier_buf_puts(b, u->host);
	if (u->port)
		tier_buf_printf(b, ":%d", u->port);
	tier_buf_puts(b, u->path ? u->path : "/");
	if (u->query)
		tier_buf_printf(b, "?%s", u->query);
	return b->ptr ? 0 : TIER_ERROR;
}

static int assemble(tier_buf *b, const tier_url *u)
{
	CURLU *h = curl_url();
	char *s = NULL;
	char port[16];
	int ok;

	if (!h)
		return TIER_ERROR;
	ok = u->scheme &&
	     !curl_url_set(h, CURLUPART_SCHEME, u->scheme,
	                   CURLU_NON_SUPPORT_SCHEME) &&
	     (!u->user ||
	      !curl_url_set(h, CURLUPART_USER, u->user, CURLU_URLENCODE)) &&
	     (!u->password || !curl_url_set(h, CURLUPART_PASSWORD, "***", 0)) &&
	     (!u->host || !curl_url_set(h, CURLUPART_HOST, u->host, 0)) &&
	     !curl_url_set(h, CURLUPART_PATH, u->path ? u->path : "/",
	                   CURLU_URLENCODE);
	if (ok && u->port) {
		snprintf(port, sizeof(port), "%d", u->port);
		ok = !curl_url_set(h, CURLUPART_PORT, port, 0);
	}
	if (ok)
		ok = !curl_url_get(h, CURLUPART_URL, &s, 0);
	curl_url_cleanup(h);
	if (!ok)
		return assemble_plain(b, u);
	/* the raw query is ours to add: curl leaves out a file: URL's */
	ok = !tier_buf_puts(b, s) &&
	     (!u->query || !tier_buf_printf(b, "?%s", u->query));
	curl_free(s);
	return ok ? 0 : TIER_ERROR;
}

char *tier_url_redacted(const tier_url *url)
{
	tier_buf b = TIER_BUF_INIT;
	int rc;

	if (!url)
		return NULL;
	if (url->inner) {
		rc = tier_buf_puts(&b, "fault+");
		if (!rc)
			rc = assemble(&b, url->inner);
		if (!rc && url->fault_control) {
			rc = tier_buf_puts(&b, url->inner->query ? "&fault="
			                                         : "?fault=");
			if (!rc)
				rc = encode_value(&b, url->fault_control);
		}
	} else {
		rc = assemble(&b, url);
	}
	if (rc) {
		tier_buf_dispose(&b);
		return NULL;
	}
	return tier_buf_detach(&b);
}

/* ---- copy and free -------------------------------------------------------- */

static int dup_str(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = tier_strdup(src);
	return *dst ? 0 : TIER_ERROR;
}

int tier_url_dup(tier_url **out, const tier_url *url)
{
	tier_url *u;
	int rc;

	*out = NULL;
	if (!url)
		return 0;
	if (!(u = tier_calloc(1, sizeof(*u))))
		return TIER_ERROR;
	u->port = url->port;
	if ((rc = dup_str(&u->name, url->name)) ||
	    (rc = dup_str(&u->scheme, url->scheme)) ||
	    (rc = dup_str(&u->user, url->user)) ||
	    (rc = dup_str(&u->password, url->password)) ||
	    (rc = dup_str(&u->host, url->host)) ||
	    (rc = dup_str(&u->path, url->path)) ||
	    (rc = dup_str(&u->query, url->query)) ||
	    (rc = dup_str(&u->fault_control, url->fault_control)) ||
	    (url->inner && (rc = tier_url_dup(&u->inner, url->inner)))) {
		tier_url_free(u);
		return rc;
	}
	*out = u;
	return 0;
}

/* A freed password should not linger in the heap for a core dump to show. */
static void wipe(char *s)
{
	if (!s)
		return;
	for (volatile char *p = s; *p; p++)
		*p = 0;
}

void tier_url_free(tier_url *url)
{
	if (!url)
		return;
	wipe(url->password);
	free(url->name);
	free(url->scheme);
	free(url->user);
	free(url->password);
	free(url->host);
	free(url->path);
	free(url->query);
	free(url->fault_control);
	tier_url_free(url->inner);
	free(url);
}
