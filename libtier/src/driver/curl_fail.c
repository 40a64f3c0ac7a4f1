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
 */
int tier_curl_fail(curl_driver *d, CURLcode rc, const char *verb,
                   const char *rel)
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
