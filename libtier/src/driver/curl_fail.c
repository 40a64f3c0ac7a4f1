/*
 * What a failed transfer of the libcurl driver means: the tier code (the
 * driver contract: only what may pass by itself is TIER_EOFFLINE, so that
 * the reconnect layer of R1 retries it) and a one-line message that never
 * shows the password.
 */
#include "driver/drivers.h"
#include "driver/curl_impl.h"
#include "driver/curl_kinds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors ---------------------------------------------------------- */

static int contains(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle) != NULL;
}

/* The port of the control connection, from "ftp://host:port". */
static int control_port(const curl_driver *d)
{
	const char *c = d->base_url ? strrchr(d->base_url, ':') : NULL;
	return c && c[1] >= '0' && c[1] <= '9' ? atoi(c + 1) : 0;
}

/*
 * A connection that failed to open after a passive reply is the data
 * connection (the control one just answered), but libcurl's words name
 * the control port ("in connection to host:2121"): name the one that
 * failed.
 */
static void name_data_connection(const curl_driver *d, CURLcode rc, char *out,
                                 size_t outsz)
{
	char ctl[16];
	size_t clen;
	const char *p = out, *hit;
	tier_buf b = TIER_BUF_INIT;
	if (d->proto == PROTO_SFTP || !d->data_port || control_port(d) <= 0 ||
	    (rc != CURLE_COULDNT_CONNECT && rc != CURLE_SSL_CONNECT_ERROR))
		return;
	clen = (size_t)snprintf(ctl, sizeof(ctl), "%d", control_port(d));
	tier_buf_printf(&b, "data connection (port %d): ", d->data_port);
	while ((hit = strstr(p, ctl)) != NULL) {
		/* the control port as a whole number after ':' or "port " */
		int whole = hit > out && (hit[-1] == ':' || hit[-1] == ' ') &&
		            !(hit[clen] >= '0' && hit[clen] <= '9');
		tier_buf_put(&b, p, (size_t)(hit - p));
		if (whole)
			tier_buf_printf(&b, "%d", d->data_port);
		else
			tier_buf_put(&b, hit, clen);
		p = hit + clen;
	}
	tier_buf_puts(&b, p);
	if (b.size)
		snprintf(out, outsz, "%s", tier_buf_cstr(&b));
	tier_buf_dispose(&b);
}

/* What curl and the server said, as one line. */
static void detail(curl_driver *d, CURLcode rc, char *out, size_t outsz)
{
	const char *what = d->errbuf[0] ? d->errbuf : curl_easy_strerror(rc);
	size_t l = strlen(what);
	/* libcurl ends some texts with a newline, some with a space */
	while (l > 0 && (what[l - 1] == '\n' || what[l - 1] == '\r' ||
	                 what[l - 1] == ' '))
		l--;
	if (d->proto != PROTO_SFTP && d->reply.size && d->reply_code >= 400 &&
	    !contains(what, tier_buf_cstr(&d->reply)))
		snprintf(out, outsz, "%.*s (server said: %s)", (int)l, what,
		         tier_buf_cstr(&d->reply));
	else
		snprintf(out, outsz, "%.*s", (int)l, what);
	name_data_connection(d, rc, out, outsz);
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

/* A failure with its own words (the rest say what curl and the server said). */
static int fail_special(const struct curl_failure *f, enum curl_kind kind,
                        int code)
{
	const char *verb = f->verb, *shown = f->shown, *where = f->d->where;
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
	case KIND_NOMEM:
		return tier_error_set(TIER_ERROR, "out of memory");
	default:
		break;
	}
	if (f->d->proto != PROTO_SFTP && f->d->reply_code == 530)
		return login_refused(f->d);
	if (code == TIER_ENOTFOUND && f->d->proto != PROTO_SFTP)
		return tier_error_set(
		        code,
		        "cannot %s '%s' on %s: not found (server said: %s)",
		        verb, shown, where,
		        f->d->reply.size ? tier_buf_cstr(&f->d->reply)
		                         : f->det);
	return tier_error_set(code, "cannot %s '%s' on %s: %s", verb, shown,
	                      where, f->det);
}

int tier_curl_fail(curl_driver *d, CURLcode rc, const char *verb,
                   const char *rel)
{
	struct curl_failure f = {d, rc, verb, rel && *rel ? rel : ".", ""};
	int code;

	if (rc == CURLE_ABORTED_BY_CALLBACK && d->stalled) {
		d->drop_connection = 1;
		return tier_error_set(
		        TIER_EOFFLINE,
		        "cannot %s '%s' on %s: no answer for %u s", verb,
		        f.shown, d->where, d->timeout);
	}
	detail(d, rc, f.det, sizeof(f.det));
	if (rc == CURLE_FAILED_INIT && d->proto == PROTO_SFTP &&
	    ssh_startup_lost(f.det))
		code = TIER_EOFFLINE;
	else
		code = tier_curl_classify(d->proto == PROTO_SFTP, rc,
		                          d->reply_code,
		                          tier_buf_cstr(&d->reply), f.det);
	/* whatever passes by itself may have left the cached login out of
	 * step (or dead): the retry logs in afresh */
	if (code == TIER_EOFFLINE)
		d->drop_connection = 1;
	return fail_special(&f, tier_curl_kind(rc), code);
}
