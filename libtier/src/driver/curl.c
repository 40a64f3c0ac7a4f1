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
 * Atomic put = upload to ".<name>.tmp-<pid>-<hex>" in the same directory,
 * then rename in a post-quote of the same transfer.  FTP servers (vsftpd,
 * pure-ftpd) replace an existing target on RNTO; OpenSSH's SFTP rename
 * (protocol v3) refuses to, so there an existing target is removed first
 * and the caps say so (docs/remote-tiers.md).
 */
#include "driver/drivers.h"
#include "driver/curl_impl.h"
#include "driver/listing.h"

#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/posix.h"

static curl_driver *cd_of(tier_driver *drv)
{
	return (curl_driver *)drv;
}

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
static int sftp_quoted(curl_driver *d, tier_buf *out, const char *rel)
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

/* rel split into its directory ("" at the root) and its last name. */
static int split_rel(const char *rel, char **dir, const char **name)
{
	const char *slash = strrchr(rel, '/');
	*name = slash ? slash + 1 : rel;
	*dir = tier_strndup(rel, slash ? (size_t)(slash - rel) : 0);
	return *dir ? 0 : TIER_ERROR;
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

static int set_common(curl_driver *d)
{
	CURL *h = d->h;
	CURLcode rc = CURLE_OK;
	long t = (long)d->timeout;

	curl_easy_reset(h); /* options only: the connection stays cached */
	d->errbuf[0] = '\0';
	tier_buf_clear(&d->reply);
	d->reply_code = 0;
	d->saw_350 = 0;
	d->last_dl = d->last_ul = 0;
	d->last_move = 0;
	d->stalled = 0;
	d->moved = 0;
	d->up.moved = 0;

#define SET(opt, val)                                       \
	do {                                                \
		if (rc == CURLE_OK)                         \
			rc = curl_easy_setopt(h, opt, val); \
	} while (0)
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
	if (d->proto == PROTO_FTPS) {
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
			SET(CURLOPT_SSLVERSION,
			    (long)(CURL_SSLVERSION_TLSv1_2 |
			           CURL_SSLVERSION_MAX_TLSv1_2));
	}
	if (d->proto == PROTO_SFTP) {
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
	}
#undef SET
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
static int opt(curl_driver *d, CURLcode rc)
{
	if (rc != CURLE_OK)
		return tier_error_set(TIER_ERROR,
		                      "cannot set up transfer to %s: %s",
		                      d->where, curl_easy_strerror(rc));
	return 0;
}

static int set_url(curl_driver *d, const char *rel, int dir)
{
	tier_buf u = TIER_BUF_INIT;
	int rc = make_url(d, &u, rel, dir);
	if (rc == 0)
		rc = opt(d, curl_easy_setopt(d->h, CURLOPT_URL, u.ptr));
	tier_buf_dispose(&u);
	return rc;
}

/* A quote list; the caller frees it after the transfer. */
static int add_cmd(struct curl_slist **list, const char *fmt, ...)
        TIER_PRINTF(2, 3);

static int add_cmd(struct curl_slist **list, const char *fmt, ...)
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

/* ---- errors ---------------------------------------------------------- */

static int contains(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle) != NULL;
}

/*
 * The password must never reach a message.  Nothing we pass to curl puts
 * it there (it is not in the URL), but a server could echo it back.
 */
static void scrub(curl_driver *d, char *msg)
{
	const char *pw = d->password;
	size_t n;
	char *hit;
	/* as the location layer: shorter ones would match ordinary words */
	if (!pw || (n = strlen(pw)) < 3)
		return;
	while ((hit = strstr(msg, pw)) != NULL) {
		memset(hit, '*', n);
	}
}

/* What curl and the server said, as one line. */
static void detail(curl_driver *d, CURLcode rc, char *out, size_t outsz)
{
	const char *what = d->errbuf[0] ? d->errbuf : curl_easy_strerror(rc);
	size_t l = strlen(what);
	while (l > 0 && (what[l - 1] == '\n' || what[l - 1] == '\r'))
		l--;
	if (d->proto != PROTO_SFTP && d->reply.size && d->reply_code >= 400 &&
	    !contains(what, tier_buf_cstr(&d->reply)))
		snprintf(out, outsz, "%.*s (server said: %s)", (int)l, what,
		         tier_buf_cstr(&d->reply));
	else
		snprintf(out, outsz, "%.*s", (int)l, what);
	scrub(d, out);
}

/* The code of an SFTP failure from libcurl's text of the SFTP status. */
static int sftp_status_code(const char *msg)
{
	if (contains(msg, "No such file") || contains(msg, "not found"))
		return TIER_ENOTFOUND;
	if (contains(msg, "Permission denied") ||
	    contains(msg, "write protected"))
		return TIER_EAUTH;
	if (contains(msg, "Disk full") || contains(msg, "quota") ||
	    contains(msg, "No space"))
		return TIER_ENOSPC;
	if (contains(msg, "already exists") || contains(msg, "not empty"))
		return TIER_ECONFLICT;
	return 0;
}

/*
 * A failed SSH session start ("Failure establishing ssh session: <libssh2
 * code>, <text>", curl's CURLE_FAILED_INIT) with a socket or key exchange
 * code: the server hung up or went silent during the handshake.  Other
 * codes (no common algorithm, a bad host key signature) are not the
 * network's doing.
 */
static int ssh_startup_lost(const char *msg)
{
	static const int lost[] = {-1, -2, -3, -7, -8, -9, -13, -30, -43};
	const char *p = strstr(msg, "Failure establishing ssh session: ");
	char *end;
	long code;
	if (!p)
		return 0;
	p += strlen("Failure establishing ssh session: ");
	code = strtol(p, &end, 10);
	if (end == p || *end != ',')
		return 0;
	for (size_t i = 0; i < sizeof(lost) / sizeof(lost[0]); i++)
		if (code == lost[i])
			return 1;
	return 0;
}

/* The user of the login: the URL's, else the netrc entry's. */
static const char *login_user(const curl_driver *d)
{
	return d->user          ? d->user
	       : d->netrc_login ? d->netrc_login
	                        : "anonymous";
}

static int login_refused(const curl_driver *d)
{
	if (!d->password && d->netrc_hit)
		return tier_error_set(
		        TIER_EAUTH,
		        "login refused for user '%s' on %s (wrong password in "
		        "netrc '%s'?)",
		        login_user(d), d->where, d->netrc);
	return tier_error_set(
	        TIER_EAUTH,
	        "login refused for user '%s' on %s (wrong password?)",
	        login_user(d), d->where);
}

/*
 * Classify a failed transfer.  The codes are the driver contract: only
 * what may pass by itself is TIER_EOFFLINE (the reconnect layer retries
 * it); a full disk, a refused login or a certificate problem fail at once.
 * "missing" is the code for a 550 from the server in this operation:
 * TIER_ENOTFOUND where the command names an existing object.
 */
static int fail(curl_driver *d, CURLcode rc, const char *verb, const char *rel)
{
	char det[CURL_ERROR_SIZE + 300];
	const char *shown = rel && *rel ? rel : ".";
	int r = d->reply_code, code;

	if (rc == CURLE_ABORTED_BY_CALLBACK && d->stalled)
		return tier_error_set(
		        TIER_EOFFLINE,
		        "cannot %s '%s' on %s: no answer for %u s", verb, shown,
		        d->where, d->timeout);
	detail(d, rc, det, sizeof(det));

	if (rc == CURLE_FAILED_INIT && d->proto == PROTO_SFTP &&
	    ssh_startup_lost(det))
		return tier_error_set(TIER_EOFFLINE, "cannot %s '%s' on %s: %s",
		                      verb, shown, d->where, det);
	switch (rc) {
	case CURLE_LOGIN_DENIED:
		if (d->proto == PROTO_SFTP)
			return tier_error_set(
			        TIER_EAUTH,
			        "login refused for user '%s' on %s (key '%s' not accepted?): %s",
			        login_user(d), d->where,
			        d->key ? d->key : "(none)", det);
		return login_refused(d);
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
		if (d->proto == PROTO_SFTP)
			return tier_error_set(
			        TIER_EAUTH,
			        "host key of %s not trusted (permanent: check %s, or the "
			        "hostkey= pin): %s",
			        d->where,
			        d->known_hosts ? d->known_hosts : "known_hosts",
			        det);
		return tier_error_set(
		        TIER_EAUTH,
		        "TLS certificate of %s not trusted (permanent: give the CA "
		        "file with cacert, or use insecure): %s",
		        d->where, det);
	case CURLE_USE_SSL_FAILED:
		return tier_error_set(
		        TIER_EAUTH,
		        "%s refused TLS (AUTH TLS): permanent, use ftp:// only if "
		        "plain text is acceptable: %s",
		        d->where, det);
	case CURLE_REMOTE_FILE_NOT_FOUND:
		return tier_error_set(TIER_ENOTFOUND,
		                      "cannot %s '%s' on %s: not found", verb,
		                      shown, d->where);
	case CURLE_REMOTE_DISK_FULL:
		return tier_error_set(TIER_ENOSPC,
		                      "cannot %s '%s' on %s: no space left: %s",
		                      verb, shown, d->where, det);
	case CURLE_BAD_DOWNLOAD_RESUME:
		return tier_error_set(
		        TIER_ECORRUPT,
		        "cannot %s '%s' on %s: the object is shorter than asked for",
		        verb, shown, d->where);
	case CURLE_ABORTED_BY_CALLBACK:
		return tier_error_set(TIER_EABORTED,
		                      "%s '%s' on %s was cancelled", verb,
		                      shown, d->where);
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return tier_error_set(TIER_EUSAGE, "cannot %s '%s' on %s: %s",
		                      verb, shown, d->where, det);
	case CURLE_OUT_OF_MEMORY:
		return tier_error_set(TIER_ERROR, "out of memory");
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_FTP_ACCEPT_FAILED:
	case CURLE_FTP_ACCEPT_TIMEOUT:
	case CURLE_FTP_WEIRD_SERVER_REPLY:
	case CURLE_FTP_WEIRD_PASV_REPLY:
	case CURLE_FTP_WEIRD_227_FORMAT:
	case CURLE_FTP_CANT_GET_HOST:
	case CURLE_FTP_PORT_FAILED:
	case CURLE_SSH:
	case CURLE_AGAIN:
	case CURLE_SSL_SHUTDOWN_FAILED:
		/* a server answering 5xx mid-stream is not a network problem */
		if (d->proto == PROTO_SFTP &&
		    (code = sftp_status_code(det)) != 0)
			return tier_error_set(code, "cannot %s '%s' on %s: %s",
			                      verb, shown, d->where, det);
		return tier_error_set(TIER_EOFFLINE, "cannot %s '%s' on %s: %s",
		                      verb, shown, d->where, det);
	default:
		break;
	}

	/* What is left are refusals by the server: its reply decides. */
	if (d->proto == PROTO_SFTP) {
		code = sftp_status_code(det);
		if (rc == CURLE_REMOTE_ACCESS_DENIED)
			code = TIER_EAUTH;
		return tier_error_set(code ? code : TIER_ERROR,
		                      "cannot %s '%s' on %s: %s", verb, shown,
		                      d->where, det);
	}
	if (r == 530)
		return login_refused(d);
	if (r == 552 || r == 452)
		code = TIER_ENOSPC;
	else if (r >= 400 && r < 500)
		code = TIER_EOFFLINE; /* "try again later" in FTP terms */
	else if (contains(tier_buf_cstr(&d->reply), "ermission") ||
	         contains(tier_buf_cstr(&d->reply), "denied"))
		code = TIER_EAUTH;
	else if (rc == CURLE_UPLOAD_FAILED && (r == 553 || r == 550))
		code = TIER_EAUTH; /* the directory exists (we are in it): a refusal */
	else if (r == 550 || rc == CURLE_REMOTE_ACCESS_DENIED ||
	         rc == CURLE_FTP_COULDNT_RETR_FILE)
		code = TIER_ENOTFOUND;
	else if (rc == CURLE_QUOTE_ERROR || rc == CURLE_UPLOAD_FAILED)
		code = TIER_ERROR;
	else
		code = TIER_ERROR;
	if (code == TIER_ENOTFOUND)
		return tier_error_set(
		        code,
		        "cannot %s '%s' on %s: not found (server said: %s)",
		        verb, shown, d->where,
		        d->reply.size ? tier_buf_cstr(&d->reply) : det);
	return tier_error_set(code, "cannot %s '%s' on %s: %s", verb, shown,
	                      d->where, det);
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
static CURLcode perform(curl_driver *d)
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
static int dir_probe(curl_driver *d, const char *rel, const char *verb,
                     struct curl_slist *quote)
{
	int rc = set_common(d);
	CURLcode c;
	if (rc < 0 || (rc = set_url(d, rel, 1)) < 0)
		return rc;
	d->probe_hit = 0;
	if (d->proto == PROTO_SFTP) {
		if ((rc = opt(d, curl_easy_setopt(d->h, CURLOPT_WRITEFUNCTION,
		                                  on_probe_data))) < 0 ||
		    (rc = opt(d, curl_easy_setopt(d->h, CURLOPT_WRITEDATA,
		                                  d))) < 0 ||
		    (rc = opt(d, curl_easy_setopt(d->h, CURLOPT_DIRLISTONLY,
		                                  1L))) < 0 ||
		    (quote && (rc = opt(d, curl_easy_setopt(d->h, CURLOPT_QUOTE,
		                                            quote))) < 0))
			return rc;
	} else if ((rc = opt(d, curl_easy_setopt(d->h, CURLOPT_NOBODY, 1L))) <
	           0) {
		return rc;
	}
	c = perform(d);
	if (c == CURLE_OK || (c == CURLE_WRITE_ERROR && d->probe_hit))
		return 0;
	return fail(d, c, verb, rel);
}

/* Run quote commands on the tier root, without a transfer. */
static int run_quote(curl_driver *d, struct curl_slist *cmds, const char *verb,
                     const char *rel)
{
	int rc = set_common(d);
	CURLcode c;
	if (rc < 0 || (rc = set_url(d, "", 1)) < 0 ||
	    (rc = opt(d, curl_easy_setopt(d->h, CURLOPT_NOBODY, 1L))) < 0 ||
	    (rc = opt(d, curl_easy_setopt(d->h,
	                                  d->proto == PROTO_SFTP
	                                          ? CURLOPT_QUOTE
	                                          : CURLOPT_POSTQUOTE,
	                                  cmds))) < 0)
		return rc;
	if ((c = perform(d)) != CURLE_OK)
		return fail(d, c, verb, rel);
	return 0;
}

static int cd_ping(tier_driver *drv)
{
	curl_driver *d = cd_of(drv);
	int rc = dir_probe(d, "", "reach", NULL);
	if (rc == TIER_ENOTFOUND)
		return tier_error_set(TIER_ENOTFOUND,
		                      "tier root of %s does not exist",
		                      d->where);
	return rc;
}

static int cd_stat(tier_driver *drv, const char *path, tier_stat *out)
{
	curl_driver *d = cd_of(drv);
	curl_off_t size = -1, mtime = -1;
	int rc = tier_driver_check_path(path, 1);
	CURLcode c;

	memset(out, 0, sizeof(*out));
	if (rc < 0)
		return rc;
	if (!*path) {
		if ((rc = dir_probe(d, "", "stat", NULL)) < 0)
			return rc;
		out->is_dir = 1;
		return 0;
	}
	/* FTP: SIZE + MDTM; SFTP: open + fstat (a directory opens too) */
	if ((rc = set_common(d)) < 0 || (rc = set_url(d, path, 0)) < 0 ||
	    (rc = opt(d, curl_easy_setopt(d->h, CURLOPT_NOBODY, 1L))) < 0 ||
	    (rc = opt(d, curl_easy_setopt(d->h, CURLOPT_FILETIME, 1L))) < 0)
		return rc;
	c = perform(d);
	if (c == CURLE_OK) {
		curl_easy_getinfo(d->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
		                  &size);
		curl_easy_getinfo(d->h, CURLINFO_FILETIME_T, &mtime);
		out->size = size > 0 ? (uint64_t)size : 0;
		out->mtime = mtime > 0 ? (int64_t)mtime : 0;
		if (d->proto != PROTO_SFTP)
			return 0;
		/* SFTP opened it: a file, or a directory */
		rc = dir_probe(d, path, "stat", NULL);
		if (rc == 0)
			out->is_dir = 1;
		else if (rc != TIER_ENOTFOUND)
			return rc;
		tier_error_clear();
		return 0;
	}
	rc = fail(d, c, "stat", path);
	if (rc != TIER_ENOTFOUND || d->proto == PROTO_SFTP)
		return rc;
	/* FTP has no SIZE for a directory */
	rc = dir_probe(d, path, "stat", NULL);
	if (rc < 0)
		return rc;
	out->is_dir = 1;
	return 0;
}

/* ---- get ------------------------------------------------------------- */

static size_t on_get_data(char *p, size_t size, size_t n, void *ud)
{
	curl_driver *d = ud;
	size_t len = size * n;
	d->moved = 1;
	if (d->get_left != UINT64_MAX && len > d->get_left) {
		/* a server ignoring the range: take what was asked and stop */
		len = (size_t)d->get_left;
		d->get_enough = 1;
	}
	if (len > 0 && d->get_sink(p, len, d->get_payload)) {
		d->get_stopped = 1;
		return 0;
	}
	d->get_delivered += len;
	if (d->get_left != UINT64_MAX)
		d->get_left -= len;
	return d->get_enough ? 0 : size * n;
}

static int cd_get(tier_driver *drv, const char *path, uint64_t offset,
                  uint64_t len, tier_sink_cb sink, void *payload)
{
	curl_driver *d = cd_of(drv);
	char range[64];
	int rc = tier_driver_check_path(path, 0);
	CURLcode c;

	if (rc < 0)
		return rc;
	if (len == 0)
		return 0;
	if (offset > (uint64_t)INT64_MAX ||
	    (len != UINT64_MAX && (len > (uint64_t)INT64_MAX - offset)))
		return tier_error_set(TIER_EUSAGE,
		                      "cannot get '%s' on %s: range too large",
		                      path, d->where);
	d->get_sink = sink;
	d->get_payload = payload;
	d->get_left = len;
	d->get_delivered = 0;
	d->get_stopped = 0;
	d->get_enough = 0;
	if ((rc = set_common(d)) < 0 || (rc = set_url(d, path, 0)) < 0 ||
	    (rc = opt(d, curl_easy_setopt(d->h, CURLOPT_WRITEFUNCTION,
	                                  on_get_data))) < 0 ||
	    (rc = opt(d, curl_easy_setopt(d->h, CURLOPT_WRITEDATA, d))) < 0)
		return rc;
	if (len != UINT64_MAX) {
		snprintf(range, sizeof(range), "%llu-%llu",
		         (unsigned long long)offset,
		         (unsigned long long)(offset + len - 1));
		rc = opt(d, curl_easy_setopt(d->h, CURLOPT_RANGE, range));
	} else if (offset) {
		rc = opt(d, curl_easy_setopt(d->h, CURLOPT_RESUME_FROM_LARGE,
		                             (curl_off_t)offset));
	}
	if (rc < 0)
		return rc;
	c = perform(d);
	if (d->get_stopped)
		return tier_error_set(TIER_EABORTED,
		                      "get '%s' on %s stopped by the receiver",
		                      path, d->where);
	if (c != CURLE_OK && !(c == CURLE_WRITE_ERROR && d->get_enough))
		return fail(d, c, "get", path);
	/* objects are written whole: a short range means a different object */
	if (len != UINT64_MAX && d->get_left > 0)
		return tier_error_set(
		        TIER_ECORRUPT,
		        "'%s' on %s is shorter than the %llu bytes asked for at "
		        "offset %llu (got %llu)",
		        path, d->where, (unsigned long long)len,
		        (unsigned long long)offset,
		        (unsigned long long)d->get_delivered);
	return 0;
}

/* ---- put ------------------------------------------------------------- */

/* Remove a leftover temp object; best effort, the put has failed already. */
static void drop_temp(curl_driver *d, const char *tmp_rel)
{
	struct curl_slist *cmds = NULL;
	char saved[1024];
	int code = tier_error_last_code();
	snprintf(saved, sizeof(saved), "%s", tier_error_last());
	if (d->proto == PROTO_SFTP) {
		tier_buf q = TIER_BUF_INIT;
		if (tier_buf_puts(&q, "rm ") == 0 &&
		    sftp_quoted(d, &q, tmp_rel) == 0 &&
		    add_cmd(&cmds, "%s", q.ptr) == 0)
			run_quote(d, cmds, "remove", tmp_rel);
		tier_buf_dispose(&q);
	} else if (add_cmd(&cmds, "DELE %s", tmp_rel) == 0) {
		run_quote(d, cmds, "remove", tmp_rel);
	}
	curl_slist_free_all(cmds);
	tier_error_set(code, "%s", saved);
}

/*
 * Upload src to tmp_rel in dir, then rename it to name (post-quote, same
 * connection, only when the upload completed).  Returns the CURLcode so
 * that the caller can tell a missing directory and a failed rename apart.
 */
static CURLcode upload(curl_driver *d, const char *tmp_rel,
                       const char *final_rel, const char *tmp_name,
                       const char *final_name, const tier_source *src,
                       int *setup_rc)
{
	struct curl_slist *post = NULL;
	tier_buf q = TIER_BUF_INIT;
	CURLcode c = CURLE_FAILED_INIT;
	int rc;

	*setup_rc = 0;
	tier_curl_upload_start(&d->up, src, 0, src->size);
	if (d->proto == PROTO_SFTP) {
		rc = tier_buf_puts(&q, "rename ") < 0 ||
		                     sftp_quoted(d, &q, tmp_rel) < 0 ||
		                     tier_buf_putc(&q, ' ') < 0 ||
		                     sftp_quoted(d, &q, final_rel) < 0
		             ? TIER_ERROR
		             : add_cmd(&post, "%s", q.ptr);
	} else {
		/* relative to the object's directory, where the upload left us */
		rc = add_cmd(&post, "RNFR %s", tmp_name);
		if (rc == 0)
			rc = add_cmd(&post, "RNTO %s", final_name);
	}
	if (rc == 0)
		rc = set_common(d);
	if (rc == 0)
		rc = set_url(d, tmp_rel, 0);
	if (rc == 0)
		rc = opt(d, curl_easy_setopt(d->h, CURLOPT_UPLOAD, 1L));
	if (rc == 0)
		rc = opt(d, curl_easy_setopt(d->h, CURLOPT_INFILESIZE_LARGE,
		                             (curl_off_t)src->size));
	if (rc == 0)
		rc = opt(d, curl_easy_setopt(d->h, CURLOPT_READFUNCTION,
		                             tier_curl_on_read));
	if (rc == 0)
		rc = opt(d, curl_easy_setopt(d->h, CURLOPT_READDATA, &d->up));
	if (rc == 0)
		rc = opt(d, curl_easy_setopt(d->h, CURLOPT_SEEKFUNCTION,
		                             tier_curl_on_seek));
	if (rc == 0)
		rc = opt(d, curl_easy_setopt(d->h, CURLOPT_SEEKDATA, &d->up));
	if (rc == 0)
		rc = opt(d, curl_easy_setopt(d->h, CURLOPT_POSTQUOTE, post));
	if (rc == 0)
		c = perform(d);
	*setup_rc = rc;
	curl_slist_free_all(post);
	tier_buf_dispose(&q);
	return c;
}

static int cd_mkdir_p(tier_driver *drv, const char *path);

static int exists(curl_driver *d, const char *rel)
{
	tier_stat st;
	int rc = cd_stat(&d->base, rel, &st);
	if (rc == 0)
		return 1;
	if (rc == TIER_ENOTFOUND) {
		tier_error_clear();
		return 0;
	}
	return rc;
}

static int cd_put(tier_driver *drv, const char *path, const tier_source *src,
                  unsigned int flags)
{
	curl_driver *d = cd_of(drv);
	tier_buf tmp_name = TIER_BUF_INIT, tmp_rel = TIER_BUF_INIT,
	         hidden = TIER_BUF_INIT;
	char *dir = NULL;
	const char *name;
	int rc = tier_driver_check_path(path, 0), setup_rc = 0, made_dirs = 0;
	CURLcode c;

	if (rc < 0)
		return rc;
	if (!src || (!src->data && src->fd < 0))
		return tier_error_set(TIER_EUSAGE, "put '%s': no source", path);
	if ((rc = split_rel(path, &dir, &name)) < 0)
		return rc;
	if (flags & TIER_PUT_EXCLUSIVE) {
		/* not atomic on FTP: see docs/remote-tiers.md */
		rc = exists(d, path);
		if (rc == 1)
			rc = tier_error_set(
			        TIER_ECONFLICT,
			        "cannot create '%s' on %s: it exists", path,
			        d->where);
		if (rc < 0)
			goto out;
	}
	if (tier_buf_printf(&hidden, ".%s", name) < 0 ||
	    tier_temp_name(&tmp_name, hidden.ptr) < 0 ||
	    tier_buf_printf(&tmp_rel, "%s%s%s", dir, *dir ? "/" : "",
	                    tmp_name.ptr) < 0) {
		rc = TIER_ERROR;
		goto out;
	}

again:
	c = upload(d, tmp_rel.ptr, path, tmp_name.ptr, name, src, &setup_rc);
	if ((rc = setup_rc) < 0)
		goto out;
	if (c == CURLE_OK) {
		rc = 0;
		goto out;
	}
	if (c == CURLE_ABORTED_BY_CALLBACK || d->up.read_errno) {
		if (d->up.read_errno)
			rc = tier_error_set_errno(
			        TIER_ERROR, d->up.read_errno,
			        "cannot read the data for '%s'", path);
		else
			rc = fail(d, c, "put", path);
		drop_temp(d, tmp_rel.ptr);
		goto out;
	}
	if (c != CURLE_QUOTE_ERROR) {
		rc = fail(d, c, "put", path);
		/* a missing directory: FTP cannot CWD, SFTP cannot open the file */
		if (rc == TIER_ENOTFOUND && *dir && !made_dirs) {
			made_dirs = 1;
			if ((rc = cd_mkdir_p(drv, dir)) < 0)
				goto out;
			goto again;
		}
		if (rc != TIER_EOFFLINE && rc != TIER_ENOTFOUND)
			drop_temp(d, tmp_rel.ptr);
		goto out;
	}

	/* uploaded whole, but the rename failed */
	rc = fail(d, c, "put", path);
	if (d->proto == PROTO_SFTP && rc != TIER_EOFFLINE) {
		/* SFTP v3 rename never replaces: the target exists */
		if (flags & TIER_PUT_EXCLUSIVE) {
			rc = tier_error_set(
			        TIER_ECONFLICT,
			        "cannot create '%s' on %s: it exists", path,
			        d->where);
		} else {
			/* remove, then rename: not atomic, see docs/remote-tiers.md */
			struct curl_slist *cmds = NULL;
			tier_buf q = TIER_BUF_INIT;
			rc = tier_buf_puts(&q, "*rm ") < 0 ||
			                     sftp_quoted(d, &q, path) < 0
			             ? TIER_ERROR
			             : add_cmd(&cmds, "%s", q.ptr);
			tier_buf_clear(&q);
			if (rc == 0)
				rc = tier_buf_puts(&q, "rename ") < 0 ||
				                     sftp_quoted(d, &q,
				                                 tmp_rel.ptr) <
				                             0 ||
				                     tier_buf_putc(&q, ' ') <
				                             0 ||
				                     sftp_quoted(d, &q, path) <
				                             0
				             ? TIER_ERROR
				             : add_cmd(&cmds, "%s", q.ptr);
			if (rc == 0)
				rc = run_quote(d, cmds, "put", path);
			curl_slist_free_all(cmds);
			tier_buf_dispose(&q);
			if (rc == 0 || rc == TIER_EOFFLINE)
				goto out;
		}
	}
	if (rc != TIER_EOFFLINE)
		drop_temp(d, tmp_rel.ptr);
out:
	free(dir);
	tier_buf_dispose(&tmp_name);
	tier_buf_dispose(&tmp_rel);
	tier_buf_dispose(&hidden);
	return rc;
}

/* ---- rename, remove, mkdir ------------------------------------------ */

static int cd_rename(tier_driver *drv, const char *from, const char *to)
{
	curl_driver *d = cd_of(drv);
	struct curl_slist *cmds = NULL;
	tier_buf q = TIER_BUF_INIT;
	int rc;

	if ((rc = tier_driver_check_path(from, 0)) < 0 ||
	    (rc = tier_driver_check_path(to, 0)) < 0)
		return rc;
	if (d->proto == PROTO_SFTP) {
		rc = tier_buf_puts(&q, "rename ") < 0 ||
		                     sftp_quoted(d, &q, from) < 0 ||
		                     tier_buf_putc(&q, ' ') < 0 ||
		                     sftp_quoted(d, &q, to) < 0
		             ? TIER_ERROR
		             : add_cmd(&cmds, "%s", q.ptr);
	} else {
		rc = add_cmd(&cmds, "RNFR %s", from);
		if (rc == 0)
			rc = add_cmd(&cmds, "RNTO %s", to);
	}
	if (rc == 0)
		rc = run_quote(d, cmds, "rename", from);
	curl_slist_free_all(cmds);
	tier_buf_dispose(&q);
	if (rc == 0 || rc == TIER_EOFFLINE)
		return rc;

	if (d->proto != PROTO_SFTP) {
		if (d->saw_350) /* RNFR accepted: the target side failed */
			return tier_error_set(
			        rc == TIER_ENOTFOUND ? TIER_ENOTFOUND : rc,
			        "cannot rename '%s' to '%s' on %s (server said: %s)",
			        from, to, d->where, tier_buf_cstr(&d->reply));
		return rc;
	}
	if (rc == TIER_ERROR) {
		/* "Operation failed": SFTP v3 does not replace an existing target */
		int e = exists(d, to);
		if (e == 1)
			return tier_error_set(
			        TIER_ECONFLICT,
			        "cannot rename '%s' to '%s' on %s: the target exists",
			        from, to, d->where);
		if (e < 0)
			return e;
		return tier_error_set(TIER_ERROR,
		                      "cannot rename '%s' to '%s' on %s", from,
		                      to, d->where);
	}
	return rc;
}

static int cd_remove(tier_driver *drv, const char *path)
{
	curl_driver *d = cd_of(drv);
	struct curl_slist *cmds = NULL;
	tier_buf q = TIER_BUF_INIT;
	int rc = tier_driver_check_path(path, 0);
	if (rc < 0)
		return rc;

	/* a file first, then an empty directory */
	if (d->proto == PROTO_SFTP)
		rc = tier_buf_puts(&q, "rm ") < 0 ||
		                     sftp_quoted(d, &q, path) < 0
		             ? TIER_ERROR
		             : add_cmd(&cmds, "%s", q.ptr);
	else
		rc = add_cmd(&cmds, "DELE %s", path);
	if (rc == 0)
		rc = run_quote(d, cmds, "remove", path);
	curl_slist_free_all(cmds);
	cmds = NULL;
	tier_buf_clear(&q);
	if (rc == 0 || rc == TIER_EOFFLINE || rc == TIER_EAUTH ||
	    rc == TIER_ENOSPC ||
	    (d->proto == PROTO_SFTP && rc == TIER_ENOTFOUND))
		goto out;

	if (d->proto == PROTO_SFTP)
		rc = tier_buf_puts(&q, "rmdir ") < 0 ||
		                     sftp_quoted(d, &q, path) < 0
		             ? TIER_ERROR
		             : add_cmd(&cmds, "%s", q.ptr);
	else
		rc = add_cmd(&cmds, "RMD %s", path);
	if (rc == 0)
		rc = run_quote(d, cmds, "remove", path);
	if (rc == TIER_ENOTFOUND && d->proto != PROTO_SFTP) {
		/* FTP says 550 for "missing" and for "not empty" alike */
		int e = dir_probe(d, path, "remove", NULL);
		if (e == 0)
			rc = tier_error_set(
			        TIER_ECONFLICT,
			        "cannot remove directory '%s' on %s: not empty",
			        path, d->where);
		else if (e != TIER_ENOTFOUND)
			rc = e;
		else
			rc = tier_error_set(
			        TIER_ENOTFOUND,
			        "cannot remove '%s' on %s: not found", path,
			        d->where);
	} else if (rc == TIER_ERROR && d->proto == PROTO_SFTP) {
		rc = tier_error_set(
		        TIER_ECONFLICT,
		        "cannot remove directory '%s' on %s: not empty", path,
		        d->where);
	}
out:
	curl_slist_free_all(cmds);
	tier_buf_dispose(&q);
	return rc;
}

/*
 * Each level below the root, "may fail" ('*': it may exist), then a check
 * that the last one is a directory.  The root itself is never created: a
 * missing root is a wrong URL or a server that lost its disk.
 */
static int cd_mkdir_p(tier_driver *drv, const char *path)
{
	curl_driver *d = cd_of(drv);
	struct curl_slist *cmds = NULL;
	tier_buf q = TIER_BUF_INIT;
	int rc = tier_driver_check_path(path, 1);
	if (rc < 0)
		return rc;
	if (!*path)
		return dir_probe(d, "", "mkdir", NULL);

	for (const char *p = path; rc == 0;) {
		p += strcspn(p, "/");
		char *sub = tier_strndup(path, (size_t)(p - path));
		if (!sub) {
			rc = TIER_ERROR;
			break;
		}
		if (d->proto == PROTO_SFTP) {
			tier_buf_clear(&q);
			rc = tier_buf_puts(&q, "*mkdir ") < 0 ||
			                     sftp_quoted(d, &q, sub) < 0
			             ? TIER_ERROR
			             : add_cmd(&cmds, "%s", q.ptr);
		} else {
			rc = add_cmd(&cmds, "*MKD %s", sub);
		}
		free(sub);
		if (!*p)
			break;
		p++;
	}
	if (rc == 0) {
		if (d->proto == PROTO_SFTP) {
			rc = dir_probe(d, path, "mkdir", cmds);
		} else {
			/*
			 * Then a CWD proves it is a directory.  Not as a quote command:
			 * curl skips its own CWD when the next URL has the same
			 * directory, so the connection must stay where curl thinks.
			 */
			rc = run_quote(d, cmds, "mkdir", path);
			if (rc == 0)
				rc = dir_probe(d, path, "mkdir", NULL);
		}
	}
	curl_slist_free_all(cmds);
	tier_buf_dispose(&q);
	if (rc == TIER_ENOTFOUND) {
		/* the root, or a file in the way */
		int e = dir_probe(d, "", "mkdir", NULL);
		if (e == TIER_ENOTFOUND)
			return tier_error_set(
			        TIER_ENOTFOUND,
			        "cannot create '%s' on %s: the tier root does not exist",
			        path, d->where);
		if (e < 0)
			return e;
		return tier_error_set(
		        TIER_ECONFLICT,
		        "cannot create directory '%s' on %s: a file is in the way "
		        "or creating is not allowed",
		        path, d->where);
	}
	return rc;
}

/* ---- list ------------------------------------------------------------ */

static size_t on_list_data(char *p, size_t size, size_t n, void *ud)
{
	curl_driver *d = ud;
	d->moved = 1;
	if (tier_buf_put(&d->listing, p, size * n) < 0)
		return 0;
	return size * n;
}

static int fetch_listing(curl_driver *d, const char *dir, int names_only)
{
	int rc = set_common(d);
	CURLcode c;
	tier_buf_clear(&d->listing);
	if (rc < 0 || (rc = set_url(d, dir, 1)) < 0 ||
	    (rc = opt(d, curl_easy_setopt(d->h, CURLOPT_WRITEFUNCTION,
	                                  on_list_data))) < 0 ||
	    (rc = opt(d, curl_easy_setopt(d->h, CURLOPT_WRITEDATA, d))) < 0 ||
	    (rc = opt(d, curl_easy_setopt(d->h, CURLOPT_DIRLISTONLY,
	                                  names_only ? 1L : 0L))) < 0)
		return rc;
	c = perform(d);
	if (c != CURLE_OK)
		return fail(d, c, "list", dir);
	return 0;
}

static int cd_list(tier_driver *drv, const char *dir, tier_list_cb cb,
                   void *payload)
{
	curl_driver *d = cd_of(drv);
	tier_listing items = TIER_LISTING_INIT;
	int rc = tier_driver_check_path(dir, 1), names_only = 0;
	if (rc < 0)
		return rc;
	if ((rc = fetch_listing(d, dir, 0)) < 0)
		goto out;

	for (;;) {
		char *p = d->listing.ptr, *end = p ? p + d->listing.size : NULL;
		int unparsed = 0;
		while (p && p < end) {
			char *nl = memchr(p, '\n', (size_t)(end - p));
			char *line_end = nl ? nl : end;
			char *next = nl ? nl + 1 : end;
			const char *name = NULL;
			tier_stat st;
			if (line_end > p && line_end[-1] == '\r')
				line_end--;
			*line_end = '\0';
			memset(&st, 0, sizeof(st));
			if (!*p || (!names_only && !strncmp(p, "total ", 6))) {
				p = next;
				continue;
			}
			if (names_only)
				name = p;
			else if (curl_parse_ls_line(p, &name, &st, time(NULL)) <
			         0) {
				unparsed = 1;
				break;
			}
			if (strcmp(name, ".") && strcmp(name, "..") &&
			    !tier_is_temp_name(name)) {
				if (tier_listing_add(&items, name, strlen(name),
				                     &st) < 0) {
					rc = TIER_ERROR;
					goto out;
				}
			}
			p = next;
		}
		if (!unparsed)
			break;
		/* a listing format we do not know: names only (sizes unknown) */
		tier_listing_dispose(&items);
		items = (tier_listing)TIER_LISTING_INIT;
		names_only = 1;
		if ((rc = fetch_listing(d, dir, 1)) < 0)
			goto out;
	}

	rc = tier_listing_deliver(&items, cb, payload, dir, d->where);
out:
	tier_listing_dispose(&items);
	tier_buf_clear(&d->listing);
	return rc;
}

/* ---- open / free ------------------------------------------------------ */

static void cd_free(tier_driver *drv)
{
	curl_driver *d = cd_of(drv);
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

/* SFTP: key file, host key check.  See docs/remote-tiers.md for the order. */
static int sftp_setup(curl_driver *d, const curl_query *q)
{
	const char *home = getenv("HOME");
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
	/* a password in an sftp:// url also unlocks an encrypted key */
	if (rc == 0)
		rc = dup_opt(&d->passphrase, d->password);

	if (rc == 0 && !d->insecure) {
		if (q->hostkey) {
			const char *k = q->hostkey;
			size_t n;
			if (!strncmp(k, "SHA256:", 7))
				k += 7;
			n = strlen(k);
			while (n > 0 &&
			       k[n - 1] ==
			               '=') /* curl compares without padding */
				n--;
			if (n != 43)
				rc = tier_error_set(
				        TIER_EUSAGE,
				        "bad hostkey in tier url %s: want SHA256:<43 base64 "
				        "characters> as ssh-keygen -l prints it",
				        d->where);
			else if (!(d->hostkey = tier_strndup(k, n)))
				rc = TIER_ERROR;
		}
		if (rc == 0 && q->known_hosts) {
			rc = dup_opt(&d->known_hosts, q->known_hosts);
		} else if (rc == 0 && !q->hostkey && home) {
			tier_buf_clear(&p);
			if (tier_buf_printf(&p, "%s/.ssh/known_hosts", home) <
			    0)
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
	}
	tier_buf_dispose(&p);
	return rc;
}

int tier_driver_curl_open(tier_driver **out, const tier_url *url,
                          const tier_location_options *opts)
{
	static const tier_location_options defaults =
	        TIER_LOCATION_OPTIONS_INIT;
	curl_query q;
	curl_driver *d;
	tier_buf b = TIER_BUF_INIT;
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
	if (!strcmp(url->scheme, "ftp"))
		d->proto = PROTO_FTP;
	else if (!strcmp(url->scheme, "ftps"))
		d->proto = PROTO_FTPS;
	else if (!strcmp(url->scheme, "sftp"))
		d->proto = PROTO_SFTP;
	else {
		rc = tier_error_set(TIER_EUSAGE,
		                    "the curl driver cannot do '%s://'",
		                    url->scheme);
		goto fail;
	}
	d->timeout = opts->timeout ? opts->timeout : TIER_DEFAULT_TIMEOUT_S;
	d->max_send = opts->max_send_speed;
	d->max_recv = opts->max_recv_speed;
	d->insecure = opts->insecure;

	/* explicit TLS: an ftp:// URL with AUTH TLS required (CURLUSESSL_ALL) */
	const char *host = url->host;
	int bracket = strchr(host, ':') && host[0] != '[';
	/* without a password the user goes in the URL: see set_common() */
	if (tier_buf_printf(&b, "%s://",
	                    d->proto == PROTO_SFTP ? "sftp" : "ftp") < 0 ||
	    (url->user && !url->password &&
	     (url_encode_userinfo(&b, url->user) < 0 ||
	      tier_buf_putc(&b, '@') < 0)) ||
	    tier_buf_printf(&b, "%s%s%s", bracket ? "[" : "", host,
	                    bracket ? "]" : "") < 0 ||
	    (url->port && tier_buf_printf(&b, ":%d", url->port) < 0)) {
		rc = TIER_ERROR;
		goto fail;
	}
	d->base_url = tier_buf_detach(&b);
	/* the root without its trailing '/' ("" for "/") */
	{
		const char *path = url->path && *url->path ? url->path : "/";
		size_t n = strlen(path);
		while (n > 0 && path[n - 1] == '/')
			n--;
		if (!(d->root = tier_strndup(path, n))) {
			rc = TIER_ERROR;
			goto fail;
		}
	}
	if (tier_buf_printf(&b, "%s://%s%s%s%s%s", url->scheme,
	                    url->user ? url->user : "", url->user ? "@" : "",
	                    bracket ? "[" : "", host, bracket ? "]" : "") < 0 ||
	    (url->port && tier_buf_printf(&b, ":%d", url->port) < 0) ||
	    tier_buf_puts(&b, *d->root ? d->root : "/") < 0) {
		rc = TIER_ERROR;
		goto fail;
	}
	d->where = tier_buf_detach(&b);

	if ((rc = dup_opt(&d->user, url->user)) < 0 ||
	    (rc = dup_opt(&d->password, url->password)) < 0 ||
	    (rc = dup_opt(&d->cacert, opts->cacert)) < 0)
		goto fail;
	if (host[0] == '[') {
		size_t n = strlen(host);
		d->host = tier_strndup(host + 1, n > 2 ? n - 2 : 0);
	} else
		d->host = tier_strdup(host);
	if (!d->host) {
		rc = TIER_ERROR;
		goto fail;
	}
	if (!d->password && (rc = netrc_setup(d, opts->netrc)) < 0)
		goto fail;

	if ((rc = curl_query_parse(&q, url->query, d->proto == PROTO_SFTP,
	                           d->where)) < 0)
		goto fail;
	if (d->proto == PROTO_SFTP)
		rc = sftp_setup(d, &q);
	curl_query_dispose(&q);
	if (rc < 0)
		goto fail;

	if (!(d->h = curl_easy_init()) || !(d->m = curl_multi_init())) {
		rc = tier_error_set(TIER_ERROR,
		                    "cannot create a libcurl handle");
		goto fail;
	}

	d->base.version = TIER_DRIVER_VERSION;
	/* vsftpd and pure-ftpd replace on RNTO; OpenSSH's SFTP rename does not */
	d->base.caps = TIER_DRIVER_CAP_DIRS | TIER_DRIVER_CAP_RENAME;
	if (d->proto != PROTO_SFTP)
		d->base.caps |= TIER_DRIVER_CAP_RENAME_OVERWRITE;
	d->base.ping = cd_ping;
	d->base.stat = cd_stat;
	d->base.get = cd_get;
	d->base.put = cd_put;
	d->base.rename = cd_rename;
	d->base.list = cd_list;
	d->base.remove = cd_remove;
	d->base.mkdir_p = cd_mkdir_p;
	d->base.free = cd_free;
	*out = &d->base;
	return 0;

fail:
	tier_buf_dispose(&b);
	cd_free(&d->base);
	return rc;
}
