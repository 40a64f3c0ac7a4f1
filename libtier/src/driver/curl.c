/*
 * ftp://, ftps:// (explicit TLS) and sftp:// tiers over libcurl.
 *
 * One easy handle per driver, reset (options only) before each operation,
 * so that the control or SSH connection is kept alive between calls: a new
 * FTP login costs tens of milliseconds, and a backup makes thousands of
 * calls.  A dead cached connection shows up as a transient error on the
 * next call, and the reconnect layer's retry opens a fresh one.
 *
 * Operations that are not transfers run as curl "quote" commands.  On FTP
 * they are post-quote commands on the tier root (or the object's directory)
 * with NOBODY: curl sends pre-quote commands before it changes directory,
 * in whatever directory the reused connection was left, so relative paths
 * there would be wrong.  On SFTP they take absolute paths.
 *
 * This file opens and frees the driver and holds its table of operations:
 * the URL taken apart into what libcurl is given (base URL without
 * password, root, the user's netrc, SFTP key and host key check).  The
 * transfers are in curl_xfer.c, their failures in curl_fail.c, the
 * operations in curl_read.c and curl_write.c.
 */
#include "driver/drivers.h"
#include "driver/curl_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/posix.h"

/* The user of a URL: everything but the unreserved characters escaped. */
static int url_encode_userinfo(tier_buf *b, const char *user)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)user; *p; p++) {
		unsigned char c = *p;
		int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		            (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		            c == '_' || c == '~';
		if (plain ? tier_buf_putc(b, (char)c) < 0
		          : tier_buf_printf(b, "%%%c%c", hex[c >> 4],
		                            hex[c & 15]) < 0)
			return TIER_ERROR;
	}
	return 0;
}

/* ---- open / free ------------------------------------------------------ */

static void cd_free(tier_driver *drv)
{
	curl_driver *d = tier_curl_of(drv);
	if (!d)
		return;
	if (d->h)
		curl_easy_cleanup(d->h);
	if (d->m) /* closes the cached connection (QUIT / SSH disconnect) */
		curl_multi_cleanup(d->m);
	if (d->password) /* do not leave it in freed memory */
		memset(d->password, 0, strlen(d->password));
	if (d->passphrase)
		memset(d->passphrase, 0, strlen(d->passphrase));
	free(d->base_url);
	free(d->root);
	free(d->where);
	free(d->user);
	free(d->password);
	free(d->key);
	free(d->key_pub);
	free(d->passphrase);
	free(d->known_hosts);
	free(d->hostkey);
	free(d->cacert);
	free(d->netrc);
	free(d->netrc_login);
	free(d->host);
	tier_buf_dispose(&d->reply);
	tier_buf_dispose(&d->listing);
	free(d);
}

static int dup_opt(char **out, const char *s)
{
	*out = NULL;
	if (s && !(*out = tier_strdup(s)))
		return TIER_ERROR;
	return 0;
}

static int file_exists(const char *path)
{
	struct stat st;
	return path && stat(path, &st) == 0;
}

/*
 * No password in the URL: the netrc file libcurl is to read, and whether
 * it has a password for this machine (and the URL's user).  libcurl does
 * the reading for the login; this look-up only decides what we ask of it
 * (SFTP password authentication; no FTP login with an empty password) and
 * what the messages say.  The password found is not kept.
 */
static int netrc_setup(curl_driver *d, const char *configured)
{
	char *login = NULL, *pw = NULL;
	int rc;
	if (!(d->netrc = tier_curl_netrc_path(configured)))
		return 0; /* no home: libcurl finds no netrc either */
	rc = tier_curl_netrc_lookup(d->netrc, d->host, d->user, &login, &pw);
	if (rc < 0)
		return rc;
	d->netrc_hit = rc == 1 && pw && *pw;
	if (pw) {
		memset(pw, 0, strlen(pw));
		free(pw);
	}
	if (d->netrc_hit && !d->user)
		d->netrc_login = login;
	else
		free(login);
	return 0;
}

/* SFTP: the key file: ?key=, $TIER_SFTP_KEY, else ~/.ssh/id_ed25519 or id_rsa. */
static int sftp_key(curl_driver *d, const curl_query *q, const char *home)
{
	tier_buf p = TIER_BUF_INIT;
	int rc = 0;

	if (q->key)
		rc = dup_opt(&d->key, q->key);
	else if (getenv("TIER_SFTP_KEY") && *getenv("TIER_SFTP_KEY"))
		rc = dup_opt(&d->key, getenv("TIER_SFTP_KEY"));
	else if (home) {
		static const char *const names[] = {"id_ed25519", "id_rsa"};
		for (size_t i = 0; rc == 0 && !d->key && i < 2; i++) {
			tier_buf_clear(&p);
			if (tier_buf_printf(&p, "%s/.ssh/%s", home, names[i]) <
			    0)
				rc = TIER_ERROR;
			else if (file_exists(p.ptr))
				rc = dup_opt(&d->key, p.ptr);
		}
	}
	if (rc == 0 && d->key) {
		/* libssh2 derives the public key, but takes "<key>.pub" when there */
		tier_buf_clear(&p);
		if (tier_buf_printf(&p, "%s.pub", d->key) < 0)
			rc = TIER_ERROR;
		else if (file_exists(p.ptr))
			rc = dup_opt(&d->key_pub, p.ptr);
	}
	tier_buf_dispose(&p);
	return rc;
}

/* ?hostkey=SHA256:<base64>, kept without "SHA256:" and padding. */
static int sftp_hostkey(curl_driver *d, const char *k)
{
	size_t n;
	if (!strncmp(k, "SHA256:", 7))
		k += 7;
	n = strlen(k);
	while (n > 0 && k[n - 1] == '=') /* curl compares without padding */
		n--;
	if (n != 43)
		return tier_error_set(
		        TIER_EUSAGE,
		        "bad hostkey in tier url %s: want SHA256:<43 base64 "
		        "characters> as ssh-keygen -l prints it",
		        d->where);
	if (!(d->hostkey = tier_strndup(k, n)))
		return TIER_ERROR;
	return 0;
}

/* SFTP: the host key check (a pin, a known_hosts file), unless insecure. */
static int sftp_host_check(curl_driver *d, const curl_query *q,
                           const char *home)
{
	tier_buf p = TIER_BUF_INIT;
	int rc = 0;

	if (q->hostkey)
		rc = sftp_hostkey(d, q->hostkey);
	if (rc == 0 && q->known_hosts) {
		rc = dup_opt(&d->known_hosts, q->known_hosts);
	} else if (rc == 0 && !q->hostkey && home) {
		if (tier_buf_printf(&p, "%s/.ssh/known_hosts", home) < 0)
			rc = TIER_ERROR;
		else if (file_exists(p.ptr))
			rc = dup_opt(&d->known_hosts, p.ptr);
	}
	if (rc == 0 && !d->known_hosts && !d->hostkey)
		rc = tier_error_set(
		        TIER_EUSAGE,
		        "no way to check the host key of %s: add known_hosts=FILE "
		        "or hostkey=SHA256:... to the url (or create "
		        "~/.ssh/known_hosts), or allow insecure",
		        d->where);
	tier_buf_dispose(&p);
	return rc;
}

/* SFTP: key file, host key check.  See docs/remote-tiers.md for the order. */
static int sftp_setup(curl_driver *d, const curl_query *q)
{
	const char *home = getenv("HOME");
	int rc = sftp_key(d, q, home);
	/* a password in an sftp:// url also unlocks an encrypted key */
	if (rc == 0)
		rc = dup_opt(&d->passphrase, d->password);
	if (rc == 0 && !d->insecure)
		rc = sftp_host_check(d, q, home);
	return rc;
}

static int open_proto(curl_driver *d, const char *scheme)
{
	if (!strcmp(scheme, "ftp"))
		d->proto = PROTO_FTP;
	else if (!strcmp(scheme, "ftps"))
		d->proto = PROTO_FTPS;
	else if (!strcmp(scheme, "sftp"))
		d->proto = PROTO_SFTP;
	else
		return tier_error_set(TIER_EUSAGE,
		                      "the curl driver cannot do '%s://'",
		                      scheme);
	return 0;
}

/* An IPv6 address goes in brackets. */
static int needs_brackets(const char *host)
{
	return strchr(host, ':') && host[0] != '[';
}

/*
 * "ftp://[user@]host[:port]": explicit TLS is an ftp:// URL with AUTH TLS
 * required (CURLUSESSL_ALL).  Without a password the user goes in the
 * URL: see set_login() in curl_xfer.c.
 */
static int open_base_url(curl_driver *d, const tier_url *url)
{
	tier_buf b = TIER_BUF_INIT;
	int bracket = needs_brackets(url->host);
	if (tier_buf_printf(&b, "%s://",
	                    d->proto == PROTO_SFTP ? "sftp" : "ftp") < 0 ||
	    (url->user && !url->password &&
	     (url_encode_userinfo(&b, url->user) < 0 ||
	      tier_buf_putc(&b, '@') < 0)) ||
	    tier_buf_printf(&b, "%s%s%s", bracket ? "[" : "", url->host,
	                    bracket ? "]" : "") < 0 ||
	    (url->port && tier_buf_printf(&b, ":%d", url->port) < 0)) {
		tier_buf_dispose(&b);
		return TIER_ERROR;
	}
	d->base_url = tier_buf_detach(&b);
	return 0;
}

/* The root without its trailing '/' ("" for "/"), and the tier for messages. */
static int open_root_where(curl_driver *d, const tier_url *url)
{
	const char *path = url->path && *url->path ? url->path : "/";
	size_t n = strlen(path);
	tier_buf b = TIER_BUF_INIT;
	int bracket = needs_brackets(url->host);

	while (n > 0 && path[n - 1] == '/')
		n--;
	if (!(d->root = tier_strndup(path, n)))
		return TIER_ERROR;
	if (tier_buf_printf(&b, "%s://%s%s%s%s%s", url->scheme,
	                    url->user ? url->user : "", url->user ? "@" : "",
	                    bracket ? "[" : "", url->host,
	                    bracket ? "]" : "") < 0 ||
	    (url->port && tier_buf_printf(&b, ":%d", url->port) < 0) ||
	    tier_buf_puts(&b, *d->root ? d->root : "/") < 0) {
		tier_buf_dispose(&b);
		return TIER_ERROR;
	}
	d->where = tier_buf_detach(&b);
	return 0;
}

/* User, password, CA file, the netrc's machine and what it holds. */
static int open_login(curl_driver *d, const tier_url *url,
                      const tier_location_options *opts)
{
	const char *host = url->host;
	int rc;
	if ((rc = dup_opt(&d->user, url->user)) < 0 ||
	    (rc = dup_opt(&d->password, url->password)) < 0 ||
	    (rc = dup_opt(&d->cacert, opts->cacert)) < 0)
		return rc;
	if (host[0] == '[') {
		size_t n = strlen(host);
		d->host = tier_strndup(host + 1, n > 2 ? n - 2 : 0);
	} else
		d->host = tier_strdup(host);
	if (!d->host)
		return TIER_ERROR;
	if (!d->password)
		return netrc_setup(d, opts->netrc);
	return 0;
}

static int open_query(curl_driver *d, const tier_url *url)
{
	curl_query q;
	int rc = curl_query_parse(&q, url->query, d->proto == PROTO_SFTP,
	                          d->where);
	if (rc < 0)
		return rc;
	if (d->proto == PROTO_SFTP)
		rc = sftp_setup(d, &q);
	curl_query_dispose(&q);
	return rc;
}

static void set_table(curl_driver *d)
{
	d->base.version = TIER_DRIVER_VERSION;
	/* vsftpd and pure-ftpd replace on RNTO; OpenSSH's SFTP rename does not */
	d->base.caps = TIER_DRIVER_CAP_DIRS | TIER_DRIVER_CAP_RENAME;
	if (d->proto != PROTO_SFTP)
		d->base.caps |= TIER_DRIVER_CAP_RENAME_OVERWRITE;
	d->base.ping = tier_curl_ping;
	d->base.stat = tier_curl_stat;
	d->base.get = tier_curl_get;
	d->base.put = tier_curl_put;
	d->base.rename = tier_curl_rename;
	d->base.list = tier_curl_list;
	d->base.remove = tier_curl_remove;
	d->base.mkdir_p = tier_curl_mkdir_p;
	d->base.free = cd_free;
}

int tier_driver_curl_open(tier_driver **out, const tier_url *url,
                          const tier_location_options *opts)
{
	static const tier_location_options defaults =
	        TIER_LOCATION_OPTIONS_INIT;
	curl_driver *d;
	int rc;

	*out = NULL;
	if (!opts)
		opts = &defaults;
	if ((rc = tier_curl_global_init()) < 0)
		return rc;
	if (!url || !url->scheme || !url->host || !*url->host)
		return tier_error_set(TIER_EUSAGE,
		                      "remote tier url needs a host");
	if (!(d = tier_calloc(1, sizeof(*d))))
		return TIER_ERROR;
	d->timeout = opts->timeout ? opts->timeout : TIER_DEFAULT_TIMEOUT_S;
	d->max_send = opts->max_send_speed;
	d->max_recv = opts->max_recv_speed;
	d->insecure = opts->insecure;
	if ((rc = open_proto(d, url->scheme)) < 0 ||
	    (rc = open_base_url(d, url)) < 0 ||
	    (rc = open_root_where(d, url)) < 0 ||
	    (rc = open_login(d, url, opts)) < 0 ||
	    (rc = open_query(d, url)) < 0)
		goto fail;
	if (!(d->h = curl_easy_init()) || !(d->m = curl_multi_init())) {
		rc = tier_error_set(TIER_ERROR,
		                    "cannot create a libcurl handle");
		goto fail;
	}
	set_table(d);
	*out = &d->base;
	return 0;

fail:
	cd_free(&d->base);
	return rc;
}
