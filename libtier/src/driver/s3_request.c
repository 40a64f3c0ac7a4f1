/*
 * One request of the s3:// driver: the URL of a key, the signed request
 * (libcurl's SigV4, options reset before each so the connection is kept),
 * the answer's body, ETag and status, and the tier code and message of a
 * request that failed: transport errors and the store's refusals
 * (docs/s3.md has the table).
 */
#include "driver/drivers.h"
#include "driver/s3_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/posix.h"

/* An answer we keep in memory (listings, errors); larger means a broken server. */
#define BODY_MAX       (32u * 1024 * 1024)
#define ERROR_BODY_MAX (64u * 1024)
/* Transfer buffers: fewer callbacks on large objects. */
#define XFER_BUFFER (512L * 1024)

/* ---- paths ------------------------------------------------------------- */

/* The object key of a tier path ("" = the tier root). */
int tier_s3_key_of(s3_driver *d, tier_buf *out, const char *rel)
{
	tier_buf_clear(out);
	if (tier_buf_puts(out, d->prefix) < 0 ||
	    (*d->prefix && *rel && tier_buf_putc(out, '/') < 0) ||
	    tier_buf_puts(out, rel) < 0)
		return TIER_ERROR;
	if (!out->ptr && tier_buf_grow(out, 0) < 0)
		return TIER_ERROR;
	return 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	s3_driver *d = ud;
	size_t len = size * n;
	if (len >= 5 && !memcmp(p, "HTTP/", 5)) {
		tier_buf_clear(
		        &d->etag); /* a new answer (after 100 Continue) */
	} else if (len > 5 && !strncasecmp(p, "etag:", 5)) {
		size_t l = len - 5;
		const char *v = p + 5;
		while (l && (*v == ' ' || *v == '\t'))
			v++, l--;
		while (l && (v[l - 1] == '\r' || v[l - 1] == '\n' ||
		             v[l - 1] == ' '))
			l--;
		tier_buf_clear(&d->etag);
		if (tier_buf_put(&d->etag, v, l) < 0)
			return 0;
	}
	return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	s3_driver *d = ud;
	size_t len = size * n;
	long status = 0;

	curl_easy_getinfo(d->h, CURLINFO_RESPONSE_CODE, &status);
	if (d->streaming && status >= 200 && status < 300) {
		size_t take = len;
		if (!d->get_started) {
			/* a 200 to a ranged GET: the server sends it all from byte 0 */
			d->get_started = 1;
			if (status == 200)
				d->get_skip = d->get_offset;
		}
		if (d->get_skip) { /* a server that ignored the range */
			size_t s =
			        d->get_skip < take ? (size_t)d->get_skip : take;
			p += s;
			take -= s;
			d->get_skip -= s;
		}
		if (d->get_left != UINT64_MAX && take > d->get_left) {
			take = (size_t)d->get_left;
			d->get_enough = 1;
		}
		if (take > 0 && d->sink(p, take, d->sink_payload)) {
			d->get_stopped = 1;
			return 0;
		}
		d->get_delivered += take;
		if (d->get_left != UINT64_MAX)
			d->get_left -= take;
		return d->get_enough ? 0 : len;
	}
	if (d->body.size + len > d->body_max) {
		d->body_overflow = 1;
		return 0;
	}
	if (tier_buf_put(&d->body, p, len) < 0)
		return 0;
	return len;
}

/* Text of the <Code> (and <Message>) of an error body. */
static void error_code(s3_driver *d, tier_buf *code, tier_buf *msg)
{
	s3_xml x = {d->body.ptr,
	            d->body.ptr ? d->body.ptr + d->body.size : NULL},
	       in;
	tier_buf_clear(code);
	tier_buf_clear(msg);
	if (!d->body.ptr || !s3_xml_next(&x, "Error", &in))
		return;
	s3_xml_text(&in, "Code", code);
	s3_xml_text(&in, "Message", msg);
	/* shown in messages: printable and short */
	for (size_t i = 0; i < msg->size; i++)
		if ((unsigned char)msg->ptr[i] < 0x20 || msg->ptr[i] == 0x7f)
			msg->ptr[i] = ' ';
	if (msg->size > 200) {
		msg->size = 200;
		msg->ptr[200] = '\0';
	}
	if (code->size > 64) {
		code->size = 64;
		code->ptr[64] = '\0';
	}
}

/* The code of a transfer that did not get an answer. */
static int transport_code(CURLcode rc)
{
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
		return TIER_EAUTH;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return TIER_EUSAGE;
	case CURLE_OUT_OF_MEMORY:
	case CURLE_FAILED_INIT:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_UNKNOWN_OPTION:
	case CURLE_NOT_BUILT_IN:
		return TIER_ERROR;
	default:
		/* refused, reset, timeout, cut short, TLS handshake: may pass */
		return TIER_EOFFLINE;
	}
}

/* A refusal of the credentials: the store's code says which part is wrong. */
static int auth_fail(s3_driver *d, const char *c, const char *extra,
                     const char *verb, const char *shown)
{
	const char *id = d->creds.key_id;
	if (!strcmp(c, "SignatureDoesNotMatch") || !*c)
		return tier_error_set(
		        TIER_EAUTH,
		        "the store refused the credentials for key id '%s' (wrong "
		        "secret?): %ld %s at %s, %s '%s'",
		        id, d->status, *c ? c : "Forbidden", d->endpoint, verb,
		        shown);
	if (!strcmp(c, "InvalidAccessKeyId"))
		return tier_error_set(
		        TIER_EAUTH,
		        "the store does not know key id '%s' (wrong key id?): %ld %s "
		        "at %s, %s '%s'",
		        id, d->status, c, d->endpoint, verb, shown);
	if (!strcmp(c, "AccessDenied"))
		return tier_error_set(
		        TIER_EAUTH,
		        "the store denied key id '%s' access to bucket '%s' (check its "
		        "permissions): %ld %s at %s, %s '%s'",
		        id, d->bucket, d->status, c, d->endpoint, verb, shown);
	if (!strcmp(c, "RequestTimeTooSkewed"))
		return tier_error_set(
		        TIER_EAUTH,
		        "the store refused a request signed by key id '%s': the clock "
		        "of this machine is off (%s at %s)",
		        id, c, d->endpoint);
	return tier_error_set(
	        TIER_EAUTH,
	        "the store refused the credentials for key id '%s': %ld %s%s at "
	        "%s, %s '%s'",
	        id, d->status, c, extra, d->endpoint, verb, shown);
}

/* Any other refusal, with the code s3_classify() gave it. */
static int refusal(s3_driver *d, int rc, const char *c, const char *extra,
                   const char *verb, const char *shown)
{
	if (rc == TIER_EUSAGE && !strcmp(c, "NoSuchBucket"))
		return tier_error_set(
		        rc,
		        "bucket '%s' does not exist at %s (create it, or fix the tier "
		        "url %s)",
		        d->bucket, d->endpoint, d->where);
	if (rc == TIER_EUSAGE)
		return tier_error_set(
		        rc, "the store at %s refuses the tier url %s: %ld %s%s",
		        d->endpoint, d->where, d->status, c, extra);
	if (rc == TIER_ENOTFOUND)
		return tier_error_set(rc, "cannot %s '%s' on %s: not found",
		                      verb, shown, d->where);
	if (rc == TIER_ECONFLICT)
		return tier_error_set(rc, "cannot %s '%s' on %s: it exists",
		                      verb, shown, d->where);
	if (rc == TIER_ENOSPC)
		return tier_error_set(
		        rc, "cannot %s '%s' on %s: no space (%ld %s%s)", verb,
		        shown, d->where, d->status,
		        *c ? c : "Insufficient Storage", extra);
	if (rc == TIER_EUNSUPPORTED)
		return tier_error_set(
		        rc,
		        "cannot %s '%s' on %s: the store does not implement it (%ld %s%s)",
		        verb, shown, d->where, d->status, c, extra);
	return tier_error_set(
	        rc, "cannot %s '%s' on %s: the store answered %ld%s%s%s", verb,
	        shown, d->where, d->status, *c ? " " : "", c, extra);
}

/*
 * The message of an answer the store refused: the codes are the driver
 * contract (docs/s3.md has the table), the words say what to do.
 */
int tier_s3_http_fail(s3_driver *d, const char *verb, const char *shown)
{
	tier_buf code = TIER_BUF_INIT, msg = TIER_BUF_INIT;
	const char *c;
	char extra[300] = "";
	int rc;

	error_code(d, &code, &msg);
	c = tier_buf_cstr(&code);
	rc = s3_classify(d->status, c);
	if (msg.size)
		snprintf(extra, sizeof(extra), " (%s)", msg.ptr);
	if (rc == TIER_EAUTH)
		rc = auth_fail(d, c, extra, verb, shown);
	else
		rc = refusal(d, rc, c, extra, verb, shown);
	tier_buf_dispose(&code);
	tier_buf_dispose(&msg);
	return rc;
}

static int setup_fail(s3_driver *d, CURLcode rc)
{
	return tier_error_set(TIER_ERROR, "cannot set up a request to %s: %s",
	                      d->where, curl_easy_strerror(rc));
}

/* Nothing of the previous request may count in this one. */
static void reset_request(s3_driver *d, const s3_req *r)
{
	curl_easy_reset(d->h); /* options only: the connection stays cached */
	d->errbuf[0] = '\0';
	d->status = 0;
	tier_buf_clear(&d->body);
	tier_buf_clear(&d->etag);
	d->body_overflow = 0;
	d->body_max = r->stream ? ERROR_BODY_MAX : BODY_MAX;
	d->streaming = r->stream;
	if (!r->stream) /* what a get left behind must not fail this request */
		d->get_stopped = d->get_enough = 0;
	tier_curl_upload_start(&d->up, r->src, r->off, r->len);
}

static int build_url(s3_driver *d, const s3_req *r, tier_buf *url)
{
	if (tier_buf_puts(url, d->base_url) < 0 ||
	    tier_buf_putc(url, '/') < 0 ||
	    (r->key && s3_encode(url, r->key, 1) < 0) ||
	    s3_query_build(url, r->params, r->nparams) < 0)
		return TIER_ERROR;
	return 0;
}

/* The signed headers and the request's own; TIER_ERROR for out of memory. */
static int build_headers(s3_driver *d, const s3_req *r,
                         struct curl_slist **hdrs)
{
	tier_buf line = TIER_BUF_INIT;
	int rc = 0;
	/* copied by curl_slist_append: the list owns its strings */
	for (struct curl_slist *a = d->auth_headers; a && rc == 0; a = a->next)
		if (!(*hdrs = curl_slist_append(*hdrs, a->data)))
			rc = TIER_ERROR;
	if (rc == 0 && r->if_none_match &&
	    (tier_buf_printf(&line, "If-None-Match: %s", r->if_none_match) <
	             0 ||
	     !(*hdrs = curl_slist_append(*hdrs, line.ptr))))
		rc = TIER_ERROR;
	if (rc == 0 && r->post &&
	    !(*hdrs = curl_slist_append(*hdrs,
	                                "Content-Type: application/xml")))
		rc = TIER_ERROR;
	tier_buf_dispose(&line);
	return rc;
}

/* Set an option unless one failed already: the first failure is reported. */
#define SET(opt, val)                                          \
	do {                                                   \
		if (rc == CURLE_OK)                            \
			rc = curl_easy_setopt(d->h, opt, val); \
	} while (0)

/* What every request sets: URL, timeouts, signing, callbacks, TLS, limits. */
static CURLcode set_request(s3_driver *d, const char *url,
                            struct curl_slist *hdrs)
{
	CURLcode rc = CURLE_OK;
	long t = (long)d->timeout;

	SET(CURLOPT_URL, url);
	SET(CURLOPT_ERRORBUFFER, d->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_CONNECTTIMEOUT, t);
	SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
	SET(CURLOPT_LOW_SPEED_TIME, t);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_TCP_KEEPIDLE, t);
	SET(CURLOPT_TCP_KEEPINTVL, t > 5 ? 5L : t);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_BUFFERSIZE, XFER_BUFFER);
	SET(CURLOPT_HTTPAUTH, (long)CURLAUTH_AWS_SIGV4);
	SET(CURLOPT_AWS_SIGV4, d->sigv4);
	SET(CURLOPT_USERNAME, d->creds.key_id);
	SET(CURLOPT_PASSWORD, d->creds.secret);
	SET(CURLOPT_HTTPHEADER, hdrs);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, d);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, d);
	if (d->cacert)
		SET(CURLOPT_CAINFO, d->cacert);
	SET(CURLOPT_SSL_VERIFYPEER, d->insecure ? 0L : 1L);
	SET(CURLOPT_SSL_VERIFYHOST, d->insecure ? 0L : 2L);
	if (d->max_send)
		SET(CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)d->max_send);
	if (d->max_recv)
		SET(CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)d->max_recv);
	/* debugging hook for test servers (docs/s3.md); shows no secret */
	if (getenv("TIER_TEST_CURL_VERBOSE"))
		SET(CURLOPT_VERBOSE, 1L);
	return rc;
}

/* The method, its body, and the range. */
static CURLcode set_method(s3_driver *d, const s3_req *r)
{
	CURLcode rc = CURLE_OK;
	if (r->filetime)
		SET(CURLOPT_FILETIME, 1L);
	if (!strcmp(r->method, "HEAD")) {
		SET(CURLOPT_NOBODY, 1L);
	} else if (!strcmp(r->method, "PUT")) {
		SET(CURLOPT_UPLOAD, 1L);
		SET(CURLOPT_UPLOAD_BUFFERSIZE, XFER_BUFFER);
		SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->len);
		SET(CURLOPT_READFUNCTION, tier_curl_on_read);
		SET(CURLOPT_READDATA, &d->up);
		SET(CURLOPT_SEEKFUNCTION, tier_curl_on_seek);
		SET(CURLOPT_SEEKDATA, &d->up);
	} else if (!strcmp(r->method, "POST")) {
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->post_len);
		SET(CURLOPT_POSTFIELDS, r->post ? r->post : "");
	} else if (strcmp(r->method, "GET")) {
		SET(CURLOPT_CUSTOMREQUEST, r->method);
	}
	if (r->range)
		SET(CURLOPT_RANGE, r->range);
	return rc;
}
#undef SET

/* A transfer that failed on our side or got no answer. */
static int transfer_fail(s3_driver *d, CURLcode rc, const char *verb,
                         const char *shown)
{
	const char *what;
	size_t l;
	int out;

	if (rc == CURLE_WRITE_ERROR && d->body_overflow)
		return tier_error_set(
		        TIER_ECORRUPT,
		        "cannot %s '%s' on %s: the answer is larger than %u bytes",
		        verb, shown, d->where, (unsigned)d->body_max);
	if (rc == CURLE_WRITE_ERROR)
		return tier_error_set(TIER_ERROR, "out of memory");
	what = d->errbuf[0] ? d->errbuf : curl_easy_strerror(rc);
	l = strlen(what);
	while (l > 0 && (what[l - 1] == '\n' || what[l - 1] == '\r'))
		l--;
	out = transport_code(rc);
	if (out == TIER_EAUTH)
		return tier_error_set(
		        out,
		        "TLS certificate of %s not trusted (permanent: give the "
		        "CA file with cacert, or use insecure): %.*s",
		        d->endpoint, (int)l, what);
	return tier_error_set(out, "cannot %s '%s' on %s: %.*s", verb, shown,
	                      d->where, (int)l, what);
}

/* What the performed request comes to: 0 for a 2xx answer, else a code. */
static int outcome(s3_driver *d, CURLcode rc, const char *verb,
                   const char *shown)
{
	if (d->get_stopped)
		return tier_error_set(TIER_EABORTED,
		                      "get '%s' on %s stopped by the receiver",
		                      shown, d->where);
	if (d->up.read_errno)
		return tier_error_set_errno(TIER_ERROR, d->up.read_errno,
		                            "cannot read the data for '%s'",
		                            shown);
	if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && d->get_enough))
		return transfer_fail(d, rc, verb, shown);
	if (d->status >= 200 && d->status < 300)
		return 0;
	return tier_s3_http_fail(d, verb, shown);
}

int tier_s3_request(s3_driver *d, const s3_req *r, const char *verb,
                    const char *shown)
{
	struct curl_slist *hdrs = NULL;
	tier_buf url = TIER_BUF_INIT;
	CURLcode rc;
	int out;

	reset_request(d, r);
	if ((out = build_url(d, r, &url)) < 0)
		goto done;
	if (build_headers(d, r, &hdrs) < 0) {
		out = tier_error_set(TIER_ERROR, "out of memory");
		goto done;
	}
	rc = set_request(d, url.ptr, hdrs);
	if (rc == CURLE_OK)
		rc = set_method(d, r);
	if (rc != CURLE_OK) {
		out = setup_fail(d, rc);
		goto done;
	}
	rc = curl_easy_perform(d->h);
	curl_easy_getinfo(d->h, CURLINFO_RESPONSE_CODE, &d->status);
	out = outcome(d, rc, verb, shown);
done:
	/* nothing of this request may point at the caller's memory any more */
	curl_easy_setopt(d->h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	d->streaming = 0;
	d->up.src = NULL;
	tier_buf_dispose(&url);
	return out;
}

/* The request on the object of a tier path. */
int tier_s3_object_request(s3_driver *d, s3_req *r, const char *rel,
                           const char *verb)
{
	tier_buf key = TIER_BUF_INIT;
	int rc = tier_s3_key_of(d, &key, rel);
	if (rc == 0) {
		r->key = key.ptr;
		rc = tier_s3_request(d, r, verb, rel);
		r->key = NULL;
	}
	tier_buf_dispose(&key);
	return rc;
}

/* ---- ping and stale uploads ------------------------------------------- */

/* "prefix/dir/" as a listing prefix ("" for the bucket root). */
int tier_s3_dir_prefix(s3_driver *d, tier_buf *out, const char *dir)
{
	int rc = tier_s3_key_of(d, out, dir);
	if (rc == 0 && out->size && tier_buf_putc(out, '/') < 0)
		rc = TIER_ERROR;
	return rc;
}
