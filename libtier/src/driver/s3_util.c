/*
 * Pure helpers of the s3:// driver: URL options, credentials, SigV4
 * encoding, the query order libcurl 7.88 needs, a small XML reader and the
 * error table.  No network here, so the unit tests run them without a server.
 */
#include "driver/s3_impl.h"
#include "util/text.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/posix.h"

/* ---- URL options ------------------------------------------------------ */

void s3_query_dispose(s3_query *q)
{
	free(q->endpoint);
	free(q->region);
	memset(q, 0, sizeof(*q));
	q->virtual_style = -1;
}

int s3_query_parse(s3_query *out, const char *query, const char *where)
{
	memset(out, 0, sizeof(*out));
	out->virtual_style = -1;
	for (const char *p = query; p && *p;) {
		const char *end = strchr(p, '&');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', n);
		size_t kn = eq ? (size_t)(eq - p) : n;
		int bad_esc = 0;
		char *val = eq ? tier_percent_decode(eq + 1, n - kn - 1,
		                                     TIER_DECODE_PLUS_SPACE,
		                                     &bad_esc)
		               : tier_strdup("");
		char **slot = NULL;
		int rc = 0;

		if (!val) {
			rc = tier_error_set(
			        TIER_EUSAGE,
			        "bad value of s3 option '%.*s' in tier url %s",
			        (int)kn, p, where);
		} else if (kn == 0) {
			/* "a&&b": nothing to say */
		} else if (kn == 8 && !strncmp(p, "endpoint", 8)) {
			slot = &out->endpoint;
		} else if (kn == 6 && !strncmp(p, "region", 6)) {
			slot = &out->region;
		} else if (kn == 5 && !strncmp(p, "style", 5)) {
			if (out->virtual_style >= 0)
				rc = tier_error_set(
				        TIER_EUSAGE,
				        "s3 option 'style' given twice in tier url %s",
				        where);
			else if (!strcmp(val, "path"))
				out->virtual_style = 0;
			else if (!strcmp(val, "virtual"))
				out->virtual_style = 1;
			else
				rc = tier_error_set(
				        TIER_EUSAGE,
				        "bad s3 option in tier url %s: style must be 'path' or "
				        "'virtual'",
				        where);
		} else {
			rc = tier_error_set(
			        TIER_EUSAGE,
			        "unknown s3 option '%.*s' in tier url %s: the options are "
			        "endpoint, region and style",
			        (int)(kn > 40 ? 40 : kn), p, where);
		}
		if (rc == 0 && slot) {
			if (*slot)
				rc = tier_error_set(
				        TIER_EUSAGE,
				        "s3 option '%.*s' given twice in tier url %s",
				        (int)kn, p, where);
			else if (!*val)
				rc = tier_error_set(
				        TIER_EUSAGE,
				        "s3 option '%.*s' is empty in tier url %s",
				        (int)kn, p, where);
			else {
				*slot = val;
				val = NULL;
			}
		}
		free(val);
		if (rc < 0) {
			s3_query_dispose(out);
			return rc;
		}
		p = end ? end + 1 : NULL;
	}
	return 0;
}

/* ---- credentials ------------------------------------------------------- */

void s3_creds_dispose(s3_creds *c)
{
	if (c->secret) /* do not leave it in freed memory */
		memset(c->secret, 0, strlen(c->secret));
	if (c->token)
		memset(c->token, 0, strlen(c->token));
	free(c->key_id);
	free(c->secret);
	free(c->token);
	free(c->file);
	memset(c, 0, sizeof(*c));
}

static char *trim(char *s)
{
	char *e;
	while (*s && isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int s3_creds_from_file(s3_creds *out, const char *path, const char *profile)
{
	tier_buf text = TIER_BUF_INIT;
	int rc = tier_read_file(&text, path, 1 << 20), in = 0;
	char *line, *save = NULL;

	memset(out, 0, sizeof(*out));
	if (rc < 0) {
		tier_buf_dispose(&text);
		tier_error_clear();
		return TIER_ENOTFOUND;
	}
	rc = 0;
	for (line = strtok_r(text.ptr ? text.ptr : (char *)"", "\n", &save);
	     line && rc == 0; line = strtok_r(NULL, "\n", &save)) {
		char *l = trim(line), *eq, **slot = NULL;
		if (!*l || *l == '#' || *l == ';')
			continue;
		if (*l == '[') {
			char *close = strchr(l, ']');
			if (close) {
				*close = '\0';
				in = !strcmp(trim(l + 1), profile);
			}
			continue;
		}
		if (!in || !(eq = strchr(l, '=')))
			continue;
		*eq = '\0';
		l = trim(l);
		if (!strcasecmp(l, "aws_access_key_id"))
			slot = &out->key_id;
		else if (!strcasecmp(l, "aws_secret_access_key"))
			slot = &out->secret;
		else if (!strcasecmp(l, "aws_session_token"))
			slot = &out->token;
		if (slot) {
			free(*slot);
			if (!(*slot = tier_strdup(trim(eq + 1))))
				rc = TIER_ERROR;
		}
	}
	if (text.ptr) /* the secret was in it */
		memset(text.ptr, 0, text.size);
	tier_buf_dispose(&text);
	if (rc == 0 &&
	    (!out->key_id || !*out->key_id || !out->secret || !*out->secret))
		rc = TIER_ENOTFOUND;
	if (rc == 0 && !(out->file = tier_strdup(path)))
		rc = TIER_ERROR;
	if (rc < 0)
		s3_creds_dispose(out);
	else
		out->from = out->file;
	return rc;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

int s3_creds_find(s3_creds *out, const char *url_user, const char *url_password,
                  const char *where)
{
	tier_buf path = TIER_BUF_INIT;
	const char *profile =
	        env("AWS_PROFILE") ? env("AWS_PROFILE") : "default";
	int rc;

	memset(out, 0, sizeof(*out));
	if (url_user && *url_user) {
		if (!url_password || !*url_password)
			return tier_error_set(
			        TIER_EUSAGE,
			        "tier url %s gives the key id '%s' but no secret: write "
			        "s3://KEYID:SECRET@bucket/... or use AWS_SECRET_ACCESS_KEY",
			        where, url_user);
		if (!(out->key_id = tier_strdup(url_user)) ||
		    !(out->secret = tier_strdup(url_password))) {
			s3_creds_dispose(out);
			return TIER_ERROR;
		}
		out->from = "url";
		return 0;
	}
	if (env("AWS_ACCESS_KEY_ID") || env("AWS_SECRET_ACCESS_KEY")) {
		if (!env("AWS_ACCESS_KEY_ID") || !env("AWS_SECRET_ACCESS_KEY"))
			return tier_error_set(
			        TIER_EUSAGE,
			        "for tier %s only one of AWS_ACCESS_KEY_ID and "
			        "AWS_SECRET_ACCESS_KEY is set",
			        where);
		if (!(out->key_id = tier_strdup(env("AWS_ACCESS_KEY_ID"))) ||
		    !(out->secret =
		              tier_strdup(env("AWS_SECRET_ACCESS_KEY"))) ||
		    (env("AWS_SESSION_TOKEN") &&
		     !(out->token = tier_strdup(env("AWS_SESSION_TOKEN"))))) {
			s3_creds_dispose(out);
			return TIER_ERROR;
		}
		out->from = "environment";
		return 0;
	}
	if (env("AWS_SHARED_CREDENTIALS_FILE"))
		rc = tier_buf_sets(&path, env("AWS_SHARED_CREDENTIALS_FILE"));
	else if (env("HOME"))
		rc = tier_buf_printf(&path, "%s/.aws/credentials", env("HOME"));
	else
		rc = tier_buf_sets(&path, "~/.aws/credentials");
	if (rc < 0) {
		tier_buf_dispose(&path);
		return TIER_ERROR;
	}
	rc = s3_creds_from_file(out, path.ptr, profile);
	if (rc == TIER_ENOTFOUND)
		rc = tier_error_set(
		        TIER_EUSAGE,
		        "no credentials for tier %s: give s3://KEYID:SECRET@bucket/..., "
		        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or write "
		        "profile [%s] in %s",
		        where, profile, path.ptr);
	tier_buf_dispose(&path);
	return rc;
}

/* ---- encoding and the query ------------------------------------------- */

int s3_encode(tier_buf *out, const char *s, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		            (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		            c == '_' || c == '~' || (keep_slash && c == '/');
		if (plain ? tier_buf_putc(out, (char)c) < 0
		          : tier_buf_printf(out, "%%%c%c", hex[c >> 4],
		                            hex[c & 15]) < 0)
			return TIER_ERROR;
	}
	return 0;
}

int s3_query_build(tier_buf *out, s3_param *params, size_t n)
{
	/* insertion sort: a handful of parameters */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i;
		     j > 0 && strcmp(params[j - 1].name, params[j].name) > 0;
		     j--) {
			s3_param t = params[j];
			params[j] = params[j - 1];
			params[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		/* a valueless parameter still needs '=' to be signed right */
		if (tier_buf_putc(out, i ? '&' : '?') < 0 ||
		    s3_encode(out, params[i].name, 0) < 0 ||
		    tier_buf_putc(out, '=') < 0 ||
		    (params[i].value && s3_encode(out, params[i].value, 0) < 0))
			return TIER_ERROR;
	}
	return 0;
}

/* ---- XML --------------------------------------------------------------- */

static const char *find(const char *p, const char *end, const char *needle,
                        size_t n)
{
	if (!p || end < p || (size_t)(end - p) < n)
		return NULL;
	return memmem(p, (size_t)(end - p), needle, n);
}

int s3_xml_next(s3_xml *x, const char *tag, s3_xml *inner)
{
	size_t tn = strlen(tag);
	const char *p = x->p;
	char close[80];

	if (tn + 4 > sizeof(close))
		return 0;
	snprintf(close, sizeof(close), "</%s>", tag);
	while ((p = find(p, x->end, "<", 1)) != NULL) {
		const char *q = p + 1;
		if ((size_t)(x->end - q) > tn && !memcmp(q, tag, tn) &&
		    (q[tn] == '>' || q[tn] == ' ' || q[tn] == '/' ||
		     q[tn] == '\t' || q[tn] == '\r' || q[tn] == '\n')) {
			const char *gt = find(q + tn, x->end, ">", 1);
			if (!gt)
				return 0;
			if (gt[-1] == '/') { /* <tag/> */
				inner->p = inner->end = gt + 1;
				x->p = gt + 1;
				return 1;
			}
			const char *c = find(gt + 1, x->end, close, tn + 3);
			if (!c)
				return 0;
			inner->p = gt + 1;
			inner->end = c;
			x->p = c + tn + 3;
			return 1;
		}
		p = q;
	}
	return 0;
}

/* Code point v (0 < v < 0x110000) as UTF-8. */
static void put_utf8(tier_buf *out, unsigned long v)
{
	if (v < 0x80) {
		tier_buf_putc(out, (char)v);
	} else if (v < 0x800) {
		tier_buf_putc(out, (char)(0xc0 | (v >> 6)));
		tier_buf_putc(out, (char)(0x80 | (v & 0x3f)));
	} else if (v < 0x10000) {
		tier_buf_putc(out, (char)(0xe0 | (v >> 12)));
		tier_buf_putc(out, (char)(0x80 | ((v >> 6) & 0x3f)));
		tier_buf_putc(out, (char)(0x80 | (v & 0x3f)));
	} else {
		tier_buf_putc(out, (char)(0xf0 | (v >> 18)));
		tier_buf_putc(out, (char)(0x80 | ((v >> 12) & 0x3f)));
		tier_buf_putc(out, (char)(0x80 | ((v >> 6) & 0x3f)));
		tier_buf_putc(out, (char)(0x80 | (v & 0x3f)));
	}
}

/* "&amp;" and its kind at p (*p == '&'): the bytes taken, 0 for none. */
static size_t xml_named_entity(tier_buf *out, const char *p, const char *end)
{
	static const struct {
		const char *ent;
		char c;
	} ents[] = {{"amp;", '&'},
	            {"lt;", '<'},
	            {"gt;", '>'},
	            {"quot;", '"'},
	            {"apos;", '\''}};
	size_t left = (size_t)(end - p - 1);
	for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
		size_t l = strlen(ents[i].ent);
		if (left >= l && !memcmp(p + 1, ents[i].ent, l)) {
			tier_buf_putc(out, ents[i].c);
			return 1 + l;
		}
	}
	return 0;
}

/* "&#65;" or "&#x41;" at p (*p == '&'): the bytes taken, 0 for none. */
static size_t xml_char_ref(tier_buf *out, const char *p, const char *end)
{
	const char *semi;
	char *num_end;
	unsigned long v;
	char tmp[16];
	size_t l;

	if ((size_t)(end - p - 1) < 3 || p[1] != '#')
		return 0;
	semi = memchr(p, ';', (size_t)(end - p));
	l = semi ? (size_t)(semi - p - 2) : 0;
	if (!semi || l == 0 || l >= sizeof(tmp))
		return 0;
	memcpy(tmp, p + 2, l);
	tmp[l] = '\0';
	errno = 0;
	v = tmp[0] == 'x' ? strtoul(tmp + 1, &num_end, 16)
	                  : strtoul(tmp, &num_end, 10);
	if (errno || *num_end || v == 0 || v >= 0x110000)
		return 0;
	put_utf8(out, v);
	return (size_t)(semi + 1 - p);
}

int s3_xml_decode(tier_buf *out, const char *p, size_t n)
{
	const char *end = p + n;
	tier_buf_clear(out);
	if (tier_buf_grow(out, n) < 0)
		return TIER_ERROR;
	/* a fresh buffer: empty text (<Key></Key>) must still be a string */
	out->ptr[0] = '\0';
	while (p < end) {
		if (*p == '&') {
			size_t took = xml_named_entity(out, p, end);
			if (!took)
				took = xml_char_ref(out, p, end);
			if (took) {
				p += took;
				continue;
			}
		}
		tier_buf_putc(out, *p++);
	}
	return 0;
}

int s3_xml_text(const s3_xml *x, const char *tag, tier_buf *out)
{
	s3_xml scan = *x, in;
	if (!s3_xml_next(&scan, tag, &in))
		return 0;
	if (s3_xml_decode(out, in.p, (size_t)(in.end - in.p)) < 0)
		return 0;
	return 1;
}

/* ---- time -------------------------------------------------------------- */

int64_t s3_parse_time(const char *s)
{
	struct tm tm;
	const char *end;
	if (!s || !*s)
		return -1;
	memset(&tm, 0, sizeof(tm));
	/* ISO 8601 in XML answers, the RFC 7231 date in headers */
	if ((end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL) {
		memset(&tm, 0, sizeof(tm));
		if ((end = strptime(s, "%a, %d %b %Y %H:%M:%S", &tm)) == NULL)
			return -1;
	}
	time_t t = timegm(&tm);
	return t == (time_t)-1 ? -1 : (int64_t)t;
}

/* ---- errors -------------------------------------------------------------- */

int s3_classify(long status, const char *code)
{
	static const struct {
		const char *code;
		int tier;
	} codes[] = {
	        {"SignatureDoesNotMatch", TIER_EAUTH},
	        {"InvalidAccessKeyId", TIER_EAUTH},
	        {"AccessDenied", TIER_EAUTH},
	        {"InvalidToken", TIER_EAUTH},
	        {"ExpiredToken", TIER_EAUTH},
	        {"TokenRefreshRequired", TIER_EAUTH},
	        {"RequestTimeTooSkewed", TIER_EAUTH},
	        {"AllAccessDisabled", TIER_EAUTH},
	        {"AccountProblem", TIER_EAUTH},
	        {"NoSuchKey", TIER_ENOTFOUND},
	        {"NoSuchUpload", TIER_ENOTFOUND},
	        {"NoSuchBucket", TIER_EUSAGE},
	        {"InvalidBucketName", TIER_EUSAGE},
	        {"PermanentRedirect", TIER_EUSAGE},
	        {"AuthorizationHeaderMalformed", TIER_EUSAGE},
	        {"EntityTooLarge", TIER_ENOSPC},
	        {"QuotaExceeded", TIER_ENOSPC},
	        {"InsufficientStorage", TIER_ENOSPC},
	        {"PreconditionFailed", TIER_ECONFLICT},
	        {"ConditionalRequestConflict", TIER_ECONFLICT},
	        {"InvalidRange", TIER_ECORRUPT},
	        {"BadDigest",
	         TIER_EOFFLINE}, /* mangled on the way: send again */
	        {"IncompleteBody", TIER_EOFFLINE},
	        {"RequestTimeout", TIER_EOFFLINE},
	        {"SlowDown", TIER_EOFFLINE},
	        {"ServiceUnavailable", TIER_EOFFLINE},
	        {"InternalError", TIER_EOFFLINE},
	        {"OperationAborted", TIER_EOFFLINE},
	        {"NotImplemented", TIER_EUNSUPPORTED},
	};
	if (status >= 200 && status < 300)
		return 0;
	for (size_t i = 0;
	     code && *code && i < sizeof(codes) / sizeof(codes[0]); i++)
		if (!strcmp(code, codes[i].code))
			return codes[i].tier;
	/* no body (HEAD) or a code we do not know: the status decides */
	if (status == 403 || status == 401)
		return TIER_EAUTH;
	if (status == 404)
		return TIER_ENOTFOUND;
	if (status == 412)
		return TIER_ECONFLICT;
	if (status == 416)
		return TIER_ECORRUPT;
	if (status == 507)
		return TIER_ENOSPC;
	if (status == 501)
		return TIER_EUNSUPPORTED;
	if (status == 408 || status == 429 || status >= 500)
		return TIER_EOFFLINE;
	return TIER_ERROR;
}
