/*
 * What a failed transfer of the libcurl driver means: the tier code (the
 * driver contract: only what may pass by itself is TIER_EOFFLINE, so that
 * the reconnect layer of R1 retries it) and a one-line message that never
 * shows the password.
 */
#include "driver/drivers.h"
#include "driver/curl_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
 *
 * libcurl's code decides first (the table); what is left are refusals
 * by the server, where its reply decides.
 */
enum curl_kind {
	KIND_REPLY, /* not in the table: the server's reply decides */
	KIND_LOGIN,
	KIND_UNTRUSTED,
	KIND_NO_TLS,
	KIND_NOTFOUND,
	KIND_NOSPC,
	KIND_SHORT,
	KIND_CANCELLED,
	KIND_USAGE,
	KIND_NOMEM,
	KIND_NETWORK /* may pass: TIER_EOFFLINE, unless SFTP says otherwise */
};

static const struct {
	CURLcode rc;
	enum curl_kind kind;
} curl_kinds[] = {
        {CURLE_LOGIN_DENIED, KIND_LOGIN},
        {CURLE_PEER_FAILED_VERIFICATION, KIND_UNTRUSTED},
        {CURLE_SSL_CACERT_BADFILE, KIND_UNTRUSTED},
        {CURLE_SSL_CERTPROBLEM, KIND_UNTRUSTED},
        {CURLE_SSL_ISSUER_ERROR, KIND_UNTRUSTED},
        {CURLE_SSL_PINNEDPUBKEYNOTMATCH, KIND_UNTRUSTED},
        {CURLE_SSL_INVALIDCERTSTATUS, KIND_UNTRUSTED},
        {CURLE_SSL_CRL_BADFILE, KIND_UNTRUSTED},
        {CURLE_USE_SSL_FAILED, KIND_NO_TLS},
        {CURLE_REMOTE_FILE_NOT_FOUND, KIND_NOTFOUND},
        {CURLE_REMOTE_DISK_FULL, KIND_NOSPC},
        {CURLE_BAD_DOWNLOAD_RESUME, KIND_SHORT},
        {CURLE_ABORTED_BY_CALLBACK, KIND_CANCELLED},
        {CURLE_URL_MALFORMAT, KIND_USAGE},
        {CURLE_UNSUPPORTED_PROTOCOL, KIND_USAGE},
        {CURLE_OUT_OF_MEMORY, KIND_NOMEM},
        {CURLE_COULDNT_RESOLVE_HOST, KIND_NETWORK},
        {CURLE_COULDNT_RESOLVE_PROXY, KIND_NETWORK},
        {CURLE_COULDNT_CONNECT, KIND_NETWORK},
        {CURLE_OPERATION_TIMEDOUT, KIND_NETWORK},
        {CURLE_SEND_ERROR, KIND_NETWORK},
        {CURLE_RECV_ERROR, KIND_NETWORK},
        {CURLE_GOT_NOTHING, KIND_NETWORK},
        {CURLE_PARTIAL_FILE, KIND_NETWORK},
        {CURLE_SSL_CONNECT_ERROR, KIND_NETWORK},
        {CURLE_FTP_ACCEPT_FAILED, KIND_NETWORK},
        {CURLE_FTP_ACCEPT_TIMEOUT, KIND_NETWORK},
        {CURLE_FTP_WEIRD_SERVER_REPLY, KIND_NETWORK},
        {CURLE_FTP_WEIRD_PASV_REPLY, KIND_NETWORK},
        {CURLE_FTP_WEIRD_227_FORMAT, KIND_NETWORK},
        {CURLE_FTP_CANT_GET_HOST, KIND_NETWORK},
        {CURLE_FTP_PORT_FAILED, KIND_NETWORK},
        {CURLE_SSH, KIND_NETWORK},
        {CURLE_AGAIN, KIND_NETWORK},
        {CURLE_SSL_SHUTDOWN_FAILED, KIND_NETWORK},
};

static enum curl_kind kind_of(CURLcode rc)
{
	for (size_t i = 0; i < sizeof(curl_kinds) / sizeof(curl_kinds[0]); i++)
		if (curl_kinds[i].rc == rc)
			return curl_kinds[i].kind;
	return KIND_REPLY;
}

/* One failure being told: what every message names. */
struct curl_failure {
	curl_driver *d;
	CURLcode rc;
	const char *verb;
	const char *shown; /* the path, "." for the root */
	char det[CURL_ERROR_SIZE +
	         300]; /* detail(): curl's and the server's words */
};

static int fail_login(const struct curl_failure *f)
{
	const curl_driver *d = f->d;
	if (d->proto == PROTO_SFTP)
		return tier_error_set(
		        TIER_EAUTH,
		        "login refused for user '%s' on %s (key '%s' not accepted?): %s",
		        login_user(d), d->where, d->key ? d->key : "(none)",
		        f->det);
	return login_refused(d);
}

static int fail_untrusted(const struct curl_failure *f)
{
	const curl_driver *d = f->d;
	if (d->proto == PROTO_SFTP)
		return tier_error_set(
		        TIER_EAUTH,
		        "host key of %s not trusted (permanent: check %s, or the "
		        "hostkey= pin): %s",
		        d->where,
		        d->known_hosts ? d->known_hosts : "known_hosts",
		        f->det);
	return tier_error_set(
	        TIER_EAUTH,
	        "TLS certificate of %s not trusted (permanent: give the CA "
	        "file with cacert, or use insecure): %s",
	        d->where, f->det);
}

/* A failure libcurl's code decides (kind is not KIND_REPLY). */
static int fail_known(const struct curl_failure *f, enum curl_kind kind)
{
	const char *verb = f->verb, *shown = f->shown, *where = f->d->where;
	int code;

	switch (kind) {
	case KIND_LOGIN:
		return fail_login(f);
	case KIND_UNTRUSTED:
		return fail_untrusted(f);
	case KIND_NO_TLS:
		return tier_error_set(
		        TIER_EAUTH,
		        "%s refused TLS (AUTH TLS): permanent, use ftp:// only if "
		        "plain text is acceptable: %s",
		        where, f->det);
	case KIND_NOTFOUND:
		return tier_error_set(TIER_ENOTFOUND,
		                      "cannot %s '%s' on %s: not found", verb,
		                      shown, where);
	case KIND_NOSPC:
		return tier_error_set(TIER_ENOSPC,
		                      "cannot %s '%s' on %s: no space left: %s",
		                      verb, shown, where, f->det);
	case KIND_SHORT:
		return tier_error_set(
		        TIER_ECORRUPT,
		        "cannot %s '%s' on %s: the object is shorter than asked for",
		        verb, shown, where);
	case KIND_CANCELLED:
		return tier_error_set(TIER_EABORTED,
		                      "%s '%s' on %s was cancelled", verb,
		                      shown, where);
	case KIND_USAGE:
		return tier_error_set(TIER_EUSAGE, "cannot %s '%s' on %s: %s",
		                      verb, shown, where, f->det);
	case KIND_NOMEM:
		return tier_error_set(TIER_ERROR, "out of memory");
	case KIND_NETWORK:
	case KIND_REPLY:
		break;
	}
	/* a server answering 5xx mid-stream is not a network problem */
	code = f->d->proto == PROTO_SFTP ? sftp_status_code(f->det) : 0;
	return tier_error_set(code ? code : TIER_EOFFLINE,
	                      "cannot %s '%s' on %s: %s", verb, shown, where,
	                      f->det);
}

/* An SFTP refusal: the status text decides. */
static int fail_sftp_refusal(const struct curl_failure *f)
{
	int code = sftp_status_code(f->det);
	if (f->rc == CURLE_REMOTE_ACCESS_DENIED)
		code = TIER_EAUTH;
	return tier_error_set(code ? code : TIER_ERROR,
	                      "cannot %s '%s' on %s: %s", f->verb, f->shown,
	                      f->d->where, f->det);
}

/* The code of an FTP refusal from the server's last reply. */
static int ftp_reply_code(const curl_driver *d, CURLcode rc)
{
	int r = d->reply_code;
	if (r == 552 || r == 452)
		return TIER_ENOSPC;
	if (r >= 400 && r < 500)
		return TIER_EOFFLINE; /* "try again later" in FTP terms */
	if (contains(tier_buf_cstr(&d->reply), "ermission") ||
	    contains(tier_buf_cstr(&d->reply), "denied"))
		return TIER_EAUTH;
	if (rc == CURLE_UPLOAD_FAILED && (r == 553 || r == 550))
		return TIER_EAUTH; /* the directory exists (we are in it): a refusal */
	if (r == 550 || rc == CURLE_REMOTE_ACCESS_DENIED ||
	    rc == CURLE_FTP_COULDNT_RETR_FILE)
		return TIER_ENOTFOUND;
	return TIER_ERROR; /* CURLE_QUOTE_ERROR, CURLE_UPLOAD_FAILED, the rest */
}

static int fail_ftp_reply(const struct curl_failure *f)
{
	const curl_driver *d = f->d;
	int code;
	if (d->reply_code == 530)
		return login_refused(d);
	code = ftp_reply_code(d, f->rc);
	if (code == TIER_ENOTFOUND)
		return tier_error_set(
		        code,
		        "cannot %s '%s' on %s: not found (server said: %s)",
		        f->verb, f->shown, d->where,
		        d->reply.size ? tier_buf_cstr(&d->reply) : f->det);
	return tier_error_set(code, "cannot %s '%s' on %s: %s", f->verb,
	                      f->shown, d->where, f->det);
}

int tier_curl_fail(curl_driver *d, CURLcode rc, const char *verb,
                   const char *rel)
{
	struct curl_failure f = {d, rc, verb, rel && *rel ? rel : ".", ""};
	enum curl_kind kind;

	if (rc == CURLE_ABORTED_BY_CALLBACK && d->stalled)
		return tier_error_set(
		        TIER_EOFFLINE,
		        "cannot %s '%s' on %s: no answer for %u s", verb,
		        f.shown, d->where, d->timeout);
	detail(d, rc, f.det, sizeof(f.det));
	if (rc == CURLE_FAILED_INIT && d->proto == PROTO_SFTP &&
	    ssh_startup_lost(f.det))
		return tier_error_set(TIER_EOFFLINE, "cannot %s '%s' on %s: %s",
		                      verb, f.shown, d->where, f.det);
	kind = kind_of(rc);
	if (kind != KIND_REPLY)
		return fail_known(&f, kind);
	if (d->proto == PROTO_SFTP)
		return fail_sftp_refusal(&f);
	return fail_ftp_reply(&f);
}
