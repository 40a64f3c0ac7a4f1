/*
 * The grammar of one tier URL (after "NAME="): the scheme, the fault+
 * wrapper and its ?fault= control file, the rules per scheme, and curl's
 * refusals as our one-line messages.
 *
 * libcurl's URL API does the generic syntax (authority, user info, port,
 * IPv6 hosts, query); a few checks run on the raw text before curl sees
 * it, because curl 7.88 is lenient where we must not be ("ftp:///x"
 * becomes host "x", "file:rel" is accepted, port 0 is accepted).
 */
#include "url_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "util/buf.h"
#include "util/error.h"

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

static int scheme_char(unsigned char c)
{
	return isalnum(c) || c == '+' || c == '.' || c == '-';
}

/* ---- suggestions and decoding ------------------------------------------ */

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
 * Checks on the raw authority (alen bytes at auth) before curl sees it:
 * a file:// URL names no remote host, the others name one.
 */
static int check_authority(const ctx *c, const char *scheme, const char *auth,
                           size_t alen)
{
	int is_file = !strcmp(scheme, "file");
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
		        !strcmp(scheme, "s3")
		                ? "missing bucket in tier url '%s': use s3://bucket/prefix"
		                : "missing host in tier url '%s'",
		        NULL);
	return 0;
}

/* A decoded part of curl's parse into *out (NULL when absent); what names it. */
static int take_decoded(const ctx *c, CURLU *h, CURLUPart part, char **out,
                        const char *nul_msg)
{
	char *tmp = NULL;
	int rc = curl_get(h, part, &tmp);
	if (rc || !tmp)
		return rc;
	rc = decode(out, tmp, strlen(tmp));
	free(tmp);
	if (rc == 1)
		rc = bad(c, nul_msg, NULL);
	return rc;
}

static int take_userinfo(const ctx *c, CURLU *h, tier_url *u)
{
	int rc = take_decoded(c, h, CURLUPART_USER, &u->user,
	                      "user in tier url '%s' contains a NUL byte");
	if (rc)
		return rc;
	return take_decoded(c, h, CURLUPART_PASSWORD, &u->password,
	                    "password in tier url '%s' contains a NUL byte");
}

static int take_host(const ctx *c, CURLU *h, tier_url *u, int is_file)
{
	int rc = curl_get(h, CURLUPART_HOST, &u->host);
	if (rc)
		return rc;
	if (u->host && !*u->host) {
		free(u->host);
		u->host = NULL;
	}
	if (is_file) {
		/* curl drops "localhost"; be explicit rather than rely on it */
		free(u->host);
		u->host = NULL;
	} else if (!u->host) {
		return bad(c, "missing host in tier url '%s'", NULL);
	}
	return 0;
}

static int take_port(const ctx *c, CURLU *h, tier_url *u, int is_s3)
{
	char *tmp = NULL;
	int rc = curl_get(h, CURLUPART_PORT, &tmp);
	if (rc)
		return rc;
	rc = parse_port(c, u, tmp);
	free(tmp);
	if (rc)
		return rc;
	if (is_s3 && u->port)
		return bad(
		        c,
		        "s3 tier url '%s' has a port after the bucket: give the server as ?endpoint=host:port",
		        NULL);
	return 0;
}

static int take_path_query(const ctx *c, CURLU *h, tier_url *u, int is_s3)
{
	char *tmp = NULL;
	int rc = curl_get(h, CURLUPART_PATH, &tmp);
	if (rc)
		return rc;
	rc = parse_path(c, u, tmp ? tmp : "/");
	free(tmp);
	if (rc)
		return rc;
	if ((rc = curl_get(h, CURLUPART_QUERY, &u->query)))
		return rc;
	if (u->query && !*u->query) {
		free(u->query);
		u->query = NULL;
	}
	if (is_s3)
		return check_s3_query(c, u->query);
	return 0;
}

/* The parts of curl's parse, in the order their messages take precedence. */
static int take_parts(const ctx *c, CURLU *h, tier_url *u, const char *scheme)
{
	int is_file = !strcmp(scheme, "file");
	int is_s3 = !strcmp(scheme, "s3");
	char *tmp = NULL;
	int rc = curl_get(h, CURLUPART_FRAGMENT, &tmp);

	if (rc)
		return rc;
	if (tmp) {
		free(tmp);
		return bad(
		        c,
		        "tier url '%s' has a '#' part: write '#' in a path as %%23",
		        NULL);
	}
	if (!(u->scheme = tier_strdup(scheme)))
		return TIER_ERROR;
	if ((rc = take_userinfo(c, h, u)) ||
	    (rc = take_host(c, h, u, is_file)) ||
	    (rc = take_port(c, h, u, is_s3)))
		return rc;
	return take_path_query(c, h, u, is_s3);
}

/*
 * Parse one non-fault URL: text is "scheme://...", scheme already known
 * to be in known_schemes (lowercase in `scheme`).
 */
static int parse_plain(const ctx *c, tier_url *u, const char *scheme,
                       const char *text)
{
	const char *auth = strstr(text, "://") + 3;
	CURLU *h;
	CURLUcode crc;
	int rc = check_authority(c, scheme, auth, strcspn(auth, "/?#"));

	if (rc)
		return rc;
	h = curl_url();
	if (!h)
		return tier_error_set(TIER_ERROR, "out of memory");
	/* PATH_AS_IS: see "." and ".." so we can refuse them, not fold them */
	crc = curl_url_set(h, CURLUPART_URL, text,
	                   CURLU_NON_SUPPORT_SCHEME | CURLU_PATH_AS_IS);
	if (crc)
		rc = curl_refused(c, text, crc);
	else
		rc = take_parts(c, h, u, scheme);
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

int tier_url_parse_text(tier_url *u, const char *text, const char *shown)
{
	ctx c = {shown};
	return parse_url(&c, u, text, 0);
}
