/*
 * One transfer of the libcurl driver (ftp, ftps, sftp): the URL of a tier
 * path, the options every transfer sets (timeouts, login, TLS, SSH), the
 * server-reply and stall callbacks, quote command lists, and the perform
 * loop on our own multi handle.  The operations (curl_read.c,
 * curl_write.c) add their options between tier_curl_set_common() and
 * tier_curl_perform(); curl_fail.c says what a failure means.
 */
#include "driver/drivers.h"
#include "driver/curl_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- paths and URLs -------------------------------------------------- */

static int url_encode_path(tier_buf *b, const char *path)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		unsigned char c = *p;
		int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		            (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		            c == '_' || c == '~' || c == '/';
		if (plain ? tier_buf_putc(b, (char)c) < 0
		          : tier_buf_printf(b, "%%%c%c", hex[c >> 4],
		                            hex[c & 15]) < 0)
			return TIER_ERROR;
	}
	return 0;
}

/* URL of rel below the root; dir adds the trailing '/' curl wants for a directory. */
static int make_url(curl_driver *d, tier_buf *out, const char *rel, int dir)
{
	tier_buf_clear(out);
	if (tier_buf_puts(out, d->base_url) < 0 ||
	    url_encode_path(out, d->root) < 0 ||
	    (*rel &&
	     (tier_buf_putc(out, '/') < 0 || url_encode_path(out, rel) < 0)) ||
	    (dir && tier_buf_putc(out, '/') < 0))
		return TIER_ERROR;
	return 0;
}

/* Absolute path for an SFTP quote command, quoted the way curl parses it. */
int tier_curl_sftp_quoted(curl_driver *d, tier_buf *out, const char *rel)
{
	tier_buf p = TIER_BUF_INIT;
	int rc = tier_buf_printf(&p, "%s/%s", d->root, rel);
	if (rc == 0)
		rc = tier_buf_putc(out, '"');
	for (const char *s = tier_buf_cstr(&p); rc == 0 && *s; s++) {
		if (*s == '"' || *s == '\\')
			rc = tier_buf_putc(out, '\\');
		if (rc == 0)
			rc = tier_buf_putc(out, *s);
	}
	if (rc == 0)
		rc = tier_buf_putc(out, '"');
	tier_buf_dispose(&p);
	return rc < 0 ? TIER_ERROR : 0;
}

/* ---- one operation --------------------------------------------------- */

/*
 * FTP server replies reach us through the header callback.  The last final
 * reply ("550 ...") goes into messages and classification; a "350" means an
 * RNFR was accepted, so a failed rename failed at RNTO.
 */
static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	curl_driver *d = ud;
	size_t len = size * n, l = len;
	while (l > 0 && (p[l - 1] == '\r' || p[l - 1] == '\n'))
		l--;
	if (l >= 4 && p[0] >= '1' && p[0] <= '5' && p[1] >= '0' &&
	    p[1] <= '9' && p[2] >= '0' && p[2] <= '9' && p[3] == ' ') {
		d->reply_code =
		        (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
		if (d->reply_code == 350)
			d->saw_350 = 1;
		if (d->reply_code == 227 || d->reply_code == 229)
			d->data_port = tier_curl_pasv_port(p, l);
		tier_buf_clear(&d->reply);
		if (l > 200)
			l = 200;
		for (size_t i = 0; i < l;
		     i++) /* a reply is shown in messages: printable only */
			tier_buf_putc(&d->reply, (p[i] >= 0x20 && p[i] < 0x7f)
			                                 ? p[i]
			                                 : '?');
	}
	return len;
}

/*
 * libcurl's low-speed limit only watches the transfer itself; this also
 * covers the command phases (an SFTP server that stops answering between
 * two requests), so a silent server never hangs a call.
 */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
	curl_driver *d = ud;
	struct timespec ts;
	(void)dltotal;
	(void)ultotal;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (dlnow != d->last_dl || ulnow != d->last_ul || !d->last_move) {
		d->last_dl = dlnow;
		d->last_ul = ulnow;
		d->last_move = ts.tv_sec;
		return 0;
	}
	if (ts.tv_sec - d->last_move > (time_t)d->timeout) {
		d->stalled = 1;
		return 1;
	}
	return 0;
}

static size_t on_discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

/*
 * An FTP user with no password from the URL or the netrc: libcurl would
 * send an empty PASS, which a server counts as a failed login.  Refused
 * before connecting.  The anonymous users of FTP take any password; an
 * SFTP user logs in with a key.
 */
static int needs_password(const curl_driver *d)
{
	return d->proto != PROTO_SFTP && d->user && !d->password &&
	       !d->netrc_hit && strcmp(d->user, "anonymous") != 0 &&
	       strcmp(d->user, "ftp") != 0;
}

/* Nothing of the previous operation may count in this one. */
static void reset_operation(curl_driver *d)
{
	curl_easy_reset(d->h); /* options only: the connection stays cached */
	d->errbuf[0] = '\0';
	tier_buf_clear(&d->reply);
	d->reply_code = 0;
	d->saw_350 = 0;
	d->data_port = 0;
	d->last_dl = d->last_ul = 0;
	d->last_move = 0;
	d->stalled = 0;
	d->moved = 0;
	d->up.moved = 0;
}

/* Set an option unless one failed already: the first failure is reported. */
#define SET(opt, val)                                          \
	do {                                                   \
		if (rc == CURLE_OK)                            \
			rc = curl_easy_setopt(d->h, opt, val); \
	} while (0)

/* Timeouts, callbacks and speed limits. */
static CURLcode set_transfer(curl_driver *d)
{
	CURLcode rc = CURLE_OK;
	long t = (long)d->timeout;

	SET(CURLOPT_ERRORBUFFER, d->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_CONNECTTIMEOUT, t);
	SET(CURLOPT_SERVER_RESPONSE_TIMEOUT, t);
	SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
	SET(CURLOPT_LOW_SPEED_TIME, t);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_TCP_KEEPIDLE, t);
	SET(CURLOPT_TCP_KEEPINTVL, t > 5 ? 5L : t);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, on_progress);
	SET(CURLOPT_XFERINFODATA, d);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, d);
	/* NOBODY on FTP still "writes" its SIZE/MDTM as headers: never to stdout */
	SET(CURLOPT_WRITEFUNCTION, on_discard);
	/* debugging hook for test servers (docs/remote-tiers.md): it shows the PASS line */
	if (getenv("TIER_TEST_CURL_VERBOSE"))
		SET(CURLOPT_VERBOSE, 1L);
	if (d->max_send)
		SET(CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)d->max_send);
	if (d->max_recv)
		SET(CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)d->max_recv);
	/* PASV, not EPSV (IPv6 hosts get EPSV regardless): when an EPSV data
	 * connection fails, libcurl falls back to PASV on the same control
	 * connection with its TYPE reply still in flight, reads that "200" as
	 * the PASV reply, and reports "Bad PASV/EPSV response" instead of
	 * the data connection's own failure (cli.wire-data-tls). */
	if (d->proto != PROTO_SFTP)
		SET(CURLOPT_FTP_USE_EPSV, 0L);
	return rc;
}

static CURLcode set_login(curl_driver *d)
{
	CURLcode rc = CURLE_OK;
	if (d->password) {
		if (d->user)
			SET(CURLOPT_USERNAME, d->user);
		SET(CURLOPT_PASSWORD, d->password);
	} else {
		/* No password in the URL: a netrc may have one.  libcurl
		 * skips the netrc when CURLOPT_USERNAME is set, so the user
		 * rides in the URL (base_url), where it also selects the
		 * netrc entry by machine and login, as the curl tool does. */
		SET(CURLOPT_NETRC, (long)CURL_NETRC_OPTIONAL);
		if (d->netrc)
			SET(CURLOPT_NETRC_FILE, d->netrc);
	}
	return rc;
}

static CURLcode set_ftps(curl_driver *d)
{
	CURLcode rc = CURLE_OK;
	SET(CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (d->cacert)
		SET(CURLOPT_CAINFO, d->cacert);
	SET(CURLOPT_SSL_VERIFYPEER, d->insecure ? 0L : 1L);
	SET(CURLOPT_SSL_VERIFYHOST, d->insecure ? 0L : 2L);
	/* libcurl before 8.9 closes an FTPS upload's TLS 1.3 data
	 * connection with the server's session tickets unread: the
	 * kernel sends RST, the server loses the tail and answers 426
	 * (curl issue 6149, KNOWN_BUGS).  TLS 1.2 does not lose it. */
	if (curl_version_info(CURLVERSION_NOW)->version_num < 0x080900)
		SET(CURLOPT_SSLVERSION, (long)(CURL_SSLVERSION_TLSv1_2 |
		                               CURL_SSLVERSION_MAX_TLSv1_2));
	return rc;
}

static CURLcode set_sftp(curl_driver *d)
{
	CURLcode rc = CURLE_OK;
	long auth = CURLSSH_AUTH_PUBLICKEY;
	if (d->password || d->netrc_hit)
		auth |= CURLSSH_AUTH_PASSWORD | CURLSSH_AUTH_KEYBOARD;
	SET(CURLOPT_SSH_AUTH_TYPES, auth);
	if (d->key)
		SET(CURLOPT_SSH_PRIVATE_KEYFILE, d->key);
	if (d->key_pub)
		SET(CURLOPT_SSH_PUBLIC_KEYFILE, d->key_pub);
	if (d->passphrase)
		SET(CURLOPT_KEYPASSWD, d->passphrase);
	if (!d->insecure && d->known_hosts)
		SET(CURLOPT_SSH_KNOWNHOSTS, d->known_hosts);
	if (!d->insecure && d->hostkey)
		SET(CURLOPT_SSH_HOST_PUBLIC_KEY_SHA256, d->hostkey);
	return rc;
}
#undef SET

int tier_curl_set_common(curl_driver *d)
{
	CURLcode rc;

	reset_operation(d);
	rc = set_transfer(d);
	if (rc == CURLE_OK)
		rc = set_login(d);
	if (rc == CURLE_OK && d->proto == PROTO_FTPS)
		rc = set_ftps(d);
	if (rc == CURLE_OK && d->proto == PROTO_SFTP)
		rc = set_sftp(d);
	if (rc != CURLE_OK)
		return tier_error_set(TIER_ERROR,
		                      "cannot set up transfer to %s: %s",
		                      d->where, curl_easy_strerror(rc));
	if (needs_password(d))
		return tier_error_set(
		        TIER_EAUTH,
		        "no password for user '%s' on %s: none in the url, and "
		        "netrc '%s' has no entry for machine '%s' login '%s'",
		        d->user, d->where, d->netrc ? d->netrc : "~/.netrc",
		        d->host, d->user);
	return 0;
}

/* An option set per call: only fails for out of memory or an old libcurl. */
int tier_curl_opt(curl_driver *d, CURLcode rc)
{
	if (rc != CURLE_OK)
		return tier_error_set(TIER_ERROR,
		                      "cannot set up transfer to %s: %s",
		                      d->where, curl_easy_strerror(rc));
	return 0;
}

int tier_curl_set_url(curl_driver *d, const char *rel, int dir)
{
	tier_buf u = TIER_BUF_INIT;
	int rc = make_url(d, &u, rel, dir);
	if (rc == 0)
		rc = tier_curl_opt(d,
		                   curl_easy_setopt(d->h, CURLOPT_URL, u.ptr));
	tier_buf_dispose(&u);
	return rc;
}

/* A quote list; the caller frees it after the transfer. */
int tier_curl_add_cmd(struct curl_slist **list, const char *fmt, ...)
        TIER_PRINTF(2, 3);

int tier_curl_add_cmd(struct curl_slist **list, const char *fmt, ...)
{
	tier_buf b = TIER_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	int rc = tier_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	struct curl_slist *n = rc < 0 ? NULL : curl_slist_append(*list, b.ptr);
	tier_buf_dispose(&b);
	if (!n)
		return tier_error_set(TIER_ERROR, "out of memory");
	*list = n;
	return 0;
}

/*
 * curl_easy_perform() of libcurl 7.88 waits up to a whole second, now and
 * then, right after an FTP data connection was started (that socket is not
 * in its poll set at that moment).  The same transfer on our own multi
 * handle, polled with a short cap, does not stall.  The multi handle also
 * keeps the connection cache between calls.
 */
#define POLL_CAP_MS 10

static CURLcode perform_once(curl_driver *d)
{
	CURLcode result = CURLE_OK;
	CURLMcode mc;
	CURLMsg *msg;
	int running = 1, left, done = 0;

	if (d->drop_connection) {
		/* the cache is the multi handle's: a new one has none */
		CURLM *m = curl_multi_init();
		if (!m)
			return CURLE_OUT_OF_MEMORY;
		curl_multi_cleanup(d->m);
		d->m = m;
		d->drop_connection = 0;
	}
	if ((mc = curl_multi_add_handle(d->m, d->h)) != CURLM_OK)
		return mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY
		                                 : CURLE_FAILED_INIT;
	while (!done) {
		if ((mc = curl_multi_perform(d->m, &running)) != CURLM_OK) {
			result = mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY
			                                   : CURLE_FAILED_INIT;
			break;
		}
		while ((msg = curl_multi_info_read(d->m, &left)) != NULL)
			if (msg->msg == CURLMSG_DONE &&
			    msg->easy_handle == d->h) {
				result = msg->data.result;
				done = 1;
			}
		if (done || !running)
			break;
		long wait = POLL_CAP_MS;
		if (curl_multi_timeout(d->m, &wait) != CURLM_OK || wait < 0 ||
		    wait > POLL_CAP_MS)
			wait = POLL_CAP_MS;
		if ((mc = curl_multi_poll(d->m, NULL, 0, (int)wait, NULL)) !=
		    CURLM_OK) {
			result = CURLE_FAILED_INIT;
			break;
		}
	}
	if (!done && result == CURLE_OK)
		result = CURLE_FAILED_INIT;
	curl_multi_remove_handle(d->m, d->h);
	return result;
}

/*
 * libssh2 words a server that hangs up during the SSH handshake or the
 * login like a refusal: "Authentication failure" (a lost connection while
 * waiting for the public-key answer becomes PUBLICKEY_UNVERIFIED inside
 * libssh2) or a failed session start.  So on SFTP such a failure counts
 * only once a fresh connection confirms it; a real refusal costs one more
 * login, a restarting server gets its answer from the second try.  Both
 * happen before any byte of the transfer moved, so it simply runs again.
 */
CURLcode tier_curl_perform(curl_driver *d)
{
	CURLcode c = perform_once(d);
	int setup = c == CURLE_LOGIN_DENIED ||
	            (c == CURLE_FAILED_INIT &&
	             (strstr(d->errbuf, "Failure establishing ssh session") ||
	              strstr(d->errbuf, "Failure initializing sftp session")));
	if (d->proto == PROTO_SFTP && setup && !d->moved && !d->up.moved) {
		d->errbuf[0] = '\0';
		d->last_dl = d->last_ul = 0;
		d->last_move = 0;
		c = perform_once(d);
	}
	return c;
}

/* ---- small operations ------------------------------------------------- */

/* Stops a listing after its first bytes: enough to know the directory exists. */
static size_t on_probe_data(char *p, size_t size, size_t n, void *ud)
{
	curl_driver *d = ud;
	(void)p;
	(void)size;
	(void)n;
	d->probe_hit = 1;
	d->moved = 1;
	return 0;
}

/*
 * Is rel an existing directory?  0 yes, TIER_ENOTFOUND no, or another code.
 * FTP: a CWD into it (NOBODY).  SFTP: open it as a directory and read the
 * first entry ("." at least).  quote: SFTP commands to run before.
 */
int tier_curl_dir_probe(curl_driver *d, const char *rel, const char *verb,
                        struct curl_slist *quote)
{
	int rc = tier_curl_set_common(d);
	CURLcode c;
	if (rc < 0 || (rc = tier_curl_set_url(d, rel, 1)) < 0)
		return rc;
	d->probe_hit = 0;
	if (d->proto == PROTO_SFTP) {
		if ((rc = tier_curl_opt(
		             d, curl_easy_setopt(d->h, CURLOPT_WRITEFUNCTION,
		                                 on_probe_data))) < 0 ||
		    (rc = tier_curl_opt(
		             d, curl_easy_setopt(d->h, CURLOPT_WRITEDATA, d))) <
		            0 ||
		    (rc = tier_curl_opt(d, curl_easy_setopt(d->h,
		                                            CURLOPT_DIRLISTONLY,
		                                            1L))) < 0 ||
		    (quote && (rc = tier_curl_opt(
		                       d, curl_easy_setopt(d->h, CURLOPT_QUOTE,
		                                           quote))) < 0))
			return rc;
	} else if ((rc = tier_curl_opt(d, curl_easy_setopt(d->h, CURLOPT_NOBODY,
	                                                   1L))) < 0) {
		return rc;
	}
	c = tier_curl_perform(d);
	if (c == CURLE_OK || (c == CURLE_WRITE_ERROR && d->probe_hit))
		return 0;
	return tier_curl_fail(d, c, verb, rel);
}

/* Run quote commands on the tier root, without a transfer. */
int tier_curl_run_quote(curl_driver *d, struct curl_slist *cmds,
                        const char *verb, const char *rel)
{
	int rc = tier_curl_set_common(d);
	CURLcode c;
	if (rc < 0 || (rc = tier_curl_set_url(d, "", 1)) < 0 ||
	    (rc = tier_curl_opt(
	             d, curl_easy_setopt(d->h, CURLOPT_NOBODY, 1L))) < 0 ||
	    (rc = tier_curl_opt(d, curl_easy_setopt(d->h,
	                                            d->proto == PROTO_SFTP
	                                                    ? CURLOPT_QUOTE
	                                                    : CURLOPT_POSTQUOTE,
	                                            cmds))) < 0)
		return rc;
	if ((c = tier_curl_perform(d)) != CURLE_OK)
		return tier_curl_fail(d, c, verb, rel);
	return 0;
}
