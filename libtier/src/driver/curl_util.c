#include "driver/curl_util.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "tier/errors.h"
#include "util/error.h"
#include "util/buf.h"
#include "util/posix.h"

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int tier_curl_global_init(void)
{
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return tier_error_set(TIER_ERROR, "libcurl cannot start: %s",
		                      curl_easy_strerror(global_rc));
	return 0;
}

void tier_curl_upload_start(tier_curl_upload *u, const tier_source *src,
                            uint64_t base, uint64_t len)
{
	memset(u, 0, sizeof(*u));
	u->src = src;
	u->base = base;
	u->len = len;
}

size_t tier_curl_on_read(char *p, size_t size, size_t n, void *upload)
{
	tier_curl_upload *u = upload;
	const tier_source *src = u->src;
	size_t want = size * n;
	u->moved = 1;
	if (u->pos >= u->len)
		return 0;
	if (want > u->len - u->pos)
		want = (size_t)(u->len - u->pos);
	if (src->data) {
		memcpy(p, (const char *)src->data + u->base + u->pos, want);
	} else {
		size_t got = 0;
		if (tier_pread_all(src->fd, p, want, u->base + u->pos, &got,
		                   "upload source") < 0 ||
		    got == 0) {
			u->read_errno = errno ? errno : EIO;
			return CURL_READFUNC_ABORT;
		}
		want = got;
	}
	u->pos += want;
	return want;
}

int tier_curl_on_seek(void *upload, curl_off_t off, int origin)
{
	tier_curl_upload *u = upload;
	if (origin != SEEK_SET || off < 0 || (uint64_t)off > u->len)
		return CURL_SEEKFUNC_CANTSEEK;
	u->pos = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}

/* ---- netrc ------------------------------------------------------------ */

char *tier_curl_netrc_path(const char *configured)
{
	const char *env = getenv("NETRC"), *home = getenv("HOME");
	tier_buf b = TIER_BUF_INIT;
	if (configured && *configured)
		return tier_strdup(configured);
	if (env && *env)
		return tier_strdup(env);
	if (!home || !*home) {
		/* cron may start us without $HOME: libcurl asks the same */
		struct passwd pw, *res = NULL;
		char buf[4096];
		if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &res) != 0 ||
		    !res || !res->pw_dir)
			return NULL;
		if (tier_buf_printf(&b, "%s/.netrc", res->pw_dir) < 0)
			return NULL;
		return tier_buf_detach(&b);
	}
	if (tier_buf_printf(&b, "%s/.netrc", home) < 0)
		return NULL;
	return tier_buf_detach(&b);
}

/* The next token at *pp into tok: 1, 0 at the end, NETRC_BAD_QUOTE. */
#define NETRC_BAD_QUOTE 2
static int netrc_token(const char **pp, tier_buf *tok)
{
	const char *p = *pp;
	for (;;) {
		while (*p && isspace((unsigned char)*p))
			p++;
		if (*p != '#')
			break;
		while (*p && *p != '\n') /* the rest of the line is a comment */
			p++;
	}
	tier_buf_clear(tok);
	if (!*p) {
		*pp = p;
		return 0;
	}
	if (*p == '"') {
		for (p++; *p && *p != '"' && *p != '\n'; p++) {
			char c = *p;
			if (c == '\\') {
				if (!p[1] || p[1] == '\n')
					return NETRC_BAD_QUOTE;
				c = *++p;
				c = c == 'n'   ? '\n'
				    : c == 'r' ? '\r'
				    : c == 't' ? '\t'
				               : c;
			}
			if (tier_buf_putc(tok, c) < 0)
				return TIER_ERROR;
		}
		if (*p != '"')
			return NETRC_BAD_QUOTE;
		p++;
	} else {
		while (*p && !isspace((unsigned char)*p))
			if (tier_buf_putc(tok, *p++) < 0)
				return TIER_ERROR;
	}
	*pp = p;
	return 1;
}

/* Past a macro definition: the rest of this line, then up to an empty line. */
static const char *netrc_skip_macdef(const char *p)
{
	while (*p && *p != '\n')
		p++;
	while (*p == '\n') {
		p++;
		if (*p == '\n' || *p == '\r' || !*p)
			return p;
		while (*p && *p != '\n')
			p++;
	}
	return p;
}

static void wipe_free(char *s)
{
	if (s) {
		memset(s, 0, strlen(s));
		free(s);
	}
}

/* A netrc file being read: where we are, and the entry that may match. */
struct netrc_scan {
	const char *host, *user;
	enum { NOTHING, HOST_NAME, HOST_VALID } state;
	enum { NONE, LOGIN, PASSWORD, ACCOUNT } want;
	char *login, *password; /* of the entry being read */
};

/* The token after login, password or account. */
static int netrc_value(struct netrc_scan *s, const char *t)
{
	if (s->state == HOST_VALID && s->want == LOGIN) {
		free(s->login);
		if (!(s->login = tier_strdup(t)))
			return TIER_ERROR;
	} else if (s->state == HOST_VALID && s->want == PASSWORD &&
	           (!s->user || (s->login && !strcmp(s->login, s->user)))) {
		/* libcurl takes a password for the URL's user
		 * only after that login */
		wipe_free(s->password);
		if (!(s->password = tier_strdup(t)))
			return TIER_ERROR;
	}
	s->want = NONE;
	return 0;
}

/* Any other token; 1 when the entry before matched (the scan stops). */
static int netrc_keyword(struct netrc_scan *s, const char *t, const char **pp)
{
	if (!strcasecmp(t, "machine") || !strcasecmp(t, "default")) {
		if (s->state == HOST_VALID && s->password)
			return 1; /* the entry before matched */
		free(s->login);
		wipe_free(s->password);
		s->login = s->password = NULL;
		s->state = t[0] == 'm' || t[0] == 'M' ? HOST_NAME : HOST_VALID;
	} else if (s->state == HOST_NAME) {
		s->state = strcasecmp(t, s->host) ? NOTHING : HOST_VALID;
	} else if (!strcasecmp(t, "macdef")) {
		*pp = netrc_skip_macdef(*pp);
	} else if (!strcasecmp(t, "login")) {
		s->want = LOGIN;
	} else if (!strcasecmp(t, "password")) {
		s->want = PASSWORD;
	} else if (!strcasecmp(t, "account")) {
		s->want = ACCOUNT;
	}
	return 0;
}

/* Read the tokens of text: as netrc_token(), or TIER_ERROR for out of memory. */
static int netrc_scan_text(struct netrc_scan *s, const char *p)
{
	tier_buf tok = TIER_BUF_INIT;
	int r;
	while ((r = netrc_token(&p, &tok)) == 1) {
		const char *t = tier_buf_cstr(&tok);
		if (s->want !=
		    NONE) { /* the value of login, password, account */
			if (netrc_value(s, t) < 0) {
				r = TIER_ERROR;
				break;
			}
		} else if (netrc_keyword(s, t, &p)) {
			break;
		}
	}
	tier_buf_dispose(&tok);
	return r;
}

int tier_curl_netrc_lookup(const char *file, const char *host, const char *user,
                           char **login, char **password)
{
	struct netrc_scan s = {host, user, NOTHING, NONE, NULL, NULL};
	tier_buf text = TIER_BUF_INIT;
	int rc = 0, r;

	*login = *password = NULL;
	if (!file || !host || tier_read_file(&text, file, 1 << 20) < 0) {
		tier_error_clear();
		goto out;
	}
	r = netrc_scan_text(&s, tier_buf_cstr(&text));
	if (r == TIER_ERROR) {
		rc = tier_error_set(TIER_ERROR, "out of memory");
		goto out;
	}
	/* a bad quote: libcurl gives up on the file, so do we */
	if ((r == 0 && s.state == HOST_VALID && s.password) ||
	    r == 1) { /* r == 1: stopped at the next entry */
		*login = s.login;
		*password = s.password;
		s.login = s.password = NULL;
		rc = 1;
	}
out:
	free(s.login);
	wipe_free(s.password);
	if (text.ptr)
		memset(text.ptr, 0, text.size);
	tier_buf_dispose(&text);
	return rc;
}
