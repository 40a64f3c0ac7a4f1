/*
 * Tier URLs: "NAME=URL" or "URL".
 *
 * This file holds what surrounds the grammar (url_parse.c): the tier name,
 * given or derived, the URL as shown in messages (never a password), the
 * canonical redacted text, copy and free.
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

#define NAME_MAX_LEN 64

static int name_char(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '.' || c == '-';
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

/* A bad "NAME=" part: the message shows it escaped. */
static int bad_name(const char *spec, size_t len, const char *shown)
{
	char *raw = tier_strndup(spec, len);
	char *name = raw ? shown_text(raw) : NULL;
	int rc = tier_error_set(
	        TIER_EUSAGE,
	        "bad tier name '%s' for '%s': use 1 to 64 letters, digits, '_', '.' or '-'",
	        name ? name : "", shown);
	free(name);
	free(raw);
	return rc;
}

/* No space and no control character anywhere in the URL. */
static int check_chars(const char *text, const char *shown)
{
	for (const char *p = text; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch == ' ')
			return tier_error_set(
			        TIER_EUSAGE,
			        "tier url '%s' contains a space: write it as %%20",
			        shown);
		if (ch < 0x20 || ch == 0x7f)
			return tier_error_set(
			        TIER_EUSAGE,
			        "tier url '%s' contains a control character",
			        shown);
	}
	return 0;
}

/* The "NAME=" part (when text != spec) and the URL's characters. */
static int check_spec(const char *spec, const char *eq, const char *text,
                      const char *shown)
{
	if (text != spec && check_name(spec, (size_t)(eq - spec)))
		return bad_name(spec, (size_t)(eq - spec), shown);
	if (!*text)
		return tier_error_set(TIER_EUSAGE,
		                      "empty tier url for tier '%.*s'",
		                      (int)(eq - spec), spec);
	return check_chars(text, shown);
}

/* The name given before '=', else one derived from the URL. */
static int name_of(tier_url *u, const char *spec, const char *eq,
                   const char *text)
{
	if (text != spec)
		return (u->name = tier_strndup(spec, (size_t)(eq - spec)))
		               ? 0
		               : TIER_ERROR;
	return derive_name(u);
}

int tier_url_parse(tier_url **out, const char *spec)
{
	const char *eq, *text = spec;
	tier_url *u = NULL;
	char *shown;
	int rc;

	*out = NULL;
	if (!spec || !*spec)
		return tier_error_set(TIER_EUSAGE, "empty tier url");

	/* "NAME=URL": a '=' with no ':' or '/' before it */
	eq = strchr(spec, '=');
	if (eq && !memchr(spec, ':', (size_t)(eq - spec)) &&
	    !memchr(spec, '/', (size_t)(eq - spec)))
		text = eq + 1;

	if (!(shown = shown_text(text)))
		return TIER_ERROR;
	rc = check_spec(spec, eq, text, shown);
	if (rc == 0 && !(u = tier_calloc(1, sizeof(*u))))
		rc = TIER_ERROR;
	if (rc == 0)
		rc = tier_url_parse_text(u, text, shown);
	if (rc == 0)
		rc = name_of(u, spec, eq, text);
	free(shown);
	if (rc) {
		tier_url_free(u);
		return rc;
	}
	*out = u;
	return 0;
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
