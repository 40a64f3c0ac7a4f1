/*
 * Credentials out of messages, as fields of the URLs they belong to.
 */
#include "util/redact.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tier/errors.h"

/* Query keys that carry a secret, whatever the store calls them. */
static const char *const secret_keys[] = {
        "password",
        "pass",
        "passwd",
        "pwd",
        "secret",
        "secret_key",
        "token",
        "passphrase",
        "signature",
        "sig",
        "x-amz-signature",
        "x-amz-security-token",
        "x-amz-credential",
        "access_token",
        "auth",
};

int tier_redact_secret_key(const char *name, size_t n)
{
	for (size_t i = 0; i < sizeof(secret_keys) / sizeof(secret_keys[0]);
	     i++)
		if (strlen(secret_keys[i]) == n &&
		    !strncasecmp(name, secret_keys[i], n))
			return 1;
	return 0;
}

static int scheme_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

/* Where a URL written in a message ends: at a space or a quote. */
static int url_end(char c)
{
	return c == '\0' || c == ' ' || c == '\t' || c == '\n' || c == '\'' ||
	       c == '"' || c == '<' || c == '>' || c == '`';
}

/*
 * One URL from p (just past "://") to its end: user info and query copied
 * with their secrets replaced.  *changed is set when one was.
 */
static const char *redact_one(tier_buf *out, const char *p, int *changed,
                              int *oom)
{
	const char *end = p, *auth_end, *at = NULL, *colon;
	while (!url_end(*end))
		end++;
	auth_end = p;
	while (auth_end < end && *auth_end != '/' && *auth_end != '?' &&
	       *auth_end != '#')
		auth_end++;
	/* the user info ends at the last '@' of the authority */
	for (const char *q = p; q < auth_end; q++)
		if (*q == '@')
			at = q;
	if (at && (colon = memchr(p, ':', (size_t)(at - p))) != NULL) {
		*oom |= tier_buf_put(out, p, (size_t)(colon + 1 - p)) < 0 ||
		        tier_buf_puts(out, "***") < 0;
		*changed = 1;
		p = at;
	}
	const char *qm = memchr(auth_end, '?', (size_t)(end - auth_end));
	if (!qm) {
		*oom |= tier_buf_put(out, p, (size_t)(end - p)) < 0;
		return end;
	}
	*oom |= tier_buf_put(out, p, (size_t)(qm + 1 - p)) < 0;
	for (p = qm + 1; p < end;) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		if (eq && tier_redact_secret_key(p, (size_t)(eq - p))) {
			*oom |= tier_buf_put(out, p, (size_t)(eq + 1 - p)) <
			                0 ||
			        tier_buf_puts(out, "***") < 0;
			*changed = 1;
		} else if (eq && memmem(eq, (size_t)(stop - eq), "://", 3)) {
			/* a URL as a value (endpoint=http://k:s@host) */
			char *v = strndup(p, (size_t)(stop - p));
			int rc = v ? tier_redact_urls(out, v) : TIER_ERROR;
			free(v);
			*oom |= rc < 0;
			*changed |= rc > 0;
		} else {
			*oom |= tier_buf_put(out, p, (size_t)(stop - p)) < 0;
		}
		p = stop;
		if (amp) {
			*oom |= tier_buf_puts(out, "&") < 0;
			p++;
		}
	}
	return end;
}

int tier_redact_urls(tier_buf *out, const char *msg)
{
	int changed = 0, oom = 0;
	const char *p = msg, *sep;
	while ((sep = strstr(p, "://")) != NULL) {
		const char *s = sep;
		while (s > p && scheme_char(s[-1]))
			s--;
		oom |= tier_buf_put(out, p, (size_t)(sep + 3 - p)) < 0;
		if (s == sep) { /* no scheme: not a URL */
			p = sep + 3;
			continue;
		}
		p = redact_one(out, sep + 3, &changed, &oom);
	}
	oom |= tier_buf_puts(out, p) < 0;
	return oom ? TIER_ERROR : changed;
}
