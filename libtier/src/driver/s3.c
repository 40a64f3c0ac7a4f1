/*
 * s3:// tiers: any S3-compatible object store (Ceph RGW, MinIO, AWS S3)
 * over libcurl's SigV4 signing (docs/s3.md).
 *
 * One easy handle per driver, reset (options only) before each request, so
 * that the HTTP connection is kept alive between calls.  A dead cached
 * connection shows up as a transient error and the reconnect layer's retry
 * opens a fresh one.
 *
 * libcurl 7.88 signs what it is given and canonicalises nothing: every
 * request carries "x-amz-content-sha256: UNSIGNED-PAYLOAD" (else curl signs
 * a hash of the body the server does not compute), and query strings are
 * built sorted and percent-encoded, valueless parameters with '='
 * (s3_query_build).
 *
 * There are no directories and no rename: an object appears whole when
 * its PUT completes (atomic on S3), a "directory" is a key prefix, and the
 * log layer publishes its head with one PUT (log.c).  Objects above 64 MiB
 * go up as multipart uploads; a failed one is aborted, and the leftovers of
 * one that could not be aborted are removed after a day by the first ping
 * of a later run (tier_s3_abort_stale_uploads).
 */
#include "driver/curl_util.h"
#include "driver/drivers.h"
#include "driver/s3_impl.h"
#include "driver/listing.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "util/posix.h"

/* An answer we keep in memory (listings, errors); larger means a broken server. */
#define BODY_MAX       (32u * 1024 * 1024)
#define ERROR_BODY_MAX (64u * 1024)
/* Transfer buffers: fewer callbacks on large objects. */
#define XFER_BUFFER (512L * 1024)

typedef struct {
	tier_driver base;
	CURL *h;
	char *base_url; /* "http://host:port/bucket" or "https://bucket.host" */
	char *endpoint; /* for messages */
	char *bucket;
	char *prefix; /* key prefix without leading or trailing '/', "" for none */
	char *sigv4; /* "aws:amz:<region>:s3" */
	char *where; /* "s3://bucket/prefix": for messages, no credentials */
	char *cacert;
	s3_creds creds;
	struct curl_slist *auth_headers; /* content hash, session token */
	unsigned int timeout;
	uint64_t max_send, max_recv;
	int insecure;
	unsigned int
	        max_keys; /* TIER_TEST_S3_MAX_KEYS: page size of listings */
	int cleaned;      /* stale uploads looked at in this process */

	/* per request */
	char errbuf[CURL_ERROR_SIZE];
	long status;
	tier_buf body; /* answer kept in memory: listing, XML result, error */
	size_t body_max;
	int body_overflow;
	tier_buf etag;
	/* get: the 2xx body goes to the sink */
	int streaming;
	tier_sink_cb sink;
	void *sink_payload;
	uint64_t get_offset, get_left, get_skip, get_delivered;
	int get_stopped, get_enough, get_started;
	/* put: a range of the source */
	tier_curl_upload up;
} s3_driver;

static s3_driver *sd_of(tier_driver *drv)
{
	return (s3_driver *)drv;
}

/* ---- paths ------------------------------------------------------------- */

/* The object key of a tier path ("" = the tier root). */
static int key_of(s3_driver *d, tier_buf *out, const char *rel)
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

/* ---- one request ------------------------------------------------------- */

typedef struct {
	const char *method; /* GET HEAD PUT POST DELETE */
	const char *key;    /* NULL: a request on the bucket */
	s3_param *params;
	size_t nparams;
	const char *if_none_match;
	const char *range;
	/* PUT body */
	const tier_source *src;
	uint64_t off, len;
	/* POST body */
	const char *post;
	size_t post_len;
	int stream; /* GET: a 2xx body goes to d->sink */
	int filetime;
} s3_req;

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

/*
 * The message of an answer the store refused: the codes are the driver
 * contract (docs/s3.md has the table), the words say what to do.
 */
static int http_fail(s3_driver *d, const char *verb, const char *shown)
{
	tier_buf code = TIER_BUF_INIT, msg = TIER_BUF_INIT;
	const char *c, *id = d->creds.key_id;
	int rc;
	char extra[300] = "";

	error_code(d, &code, &msg);
	c = tier_buf_cstr(&code);
	rc = s3_classify(d->status, c);
	if (msg.size)
		snprintf(extra, sizeof(extra), " (%s)", msg.ptr);

	if (rc == TIER_EAUTH && (!strcmp(c, "SignatureDoesNotMatch") || !*c))
		rc = tier_error_set(
		        rc,
		        "the store refused the credentials for key id '%s' (wrong "
		        "secret?): %ld %s at %s, %s '%s'",
		        id, d->status, *c ? c : "Forbidden", d->endpoint, verb,
		        shown);
	else if (rc == TIER_EAUTH && !strcmp(c, "InvalidAccessKeyId"))
		rc = tier_error_set(
		        rc,
		        "the store does not know key id '%s' (wrong key id?): %ld %s "
		        "at %s, %s '%s'",
		        id, d->status, c, d->endpoint, verb, shown);
	else if (rc == TIER_EAUTH && !strcmp(c, "AccessDenied"))
		rc = tier_error_set(
		        rc,
		        "the store denied key id '%s' access to bucket '%s' (check its "
		        "permissions): %ld %s at %s, %s '%s'",
		        id, d->bucket, d->status, c, d->endpoint, verb, shown);
	else if (rc == TIER_EAUTH && !strcmp(c, "RequestTimeTooSkewed"))
		rc = tier_error_set(
		        rc,
		        "the store refused a request signed by key id '%s': the clock "
		        "of this machine is off (%s at %s)",
		        id, c, d->endpoint);
	else if (rc == TIER_EAUTH)
		rc = tier_error_set(
		        rc,
		        "the store refused the credentials for key id '%s': %ld %s%s at "
		        "%s, %s '%s'",
		        id, d->status, c, extra, d->endpoint, verb, shown);
	else if (rc == TIER_EUSAGE && !strcmp(c, "NoSuchBucket"))
		rc = tier_error_set(
		        rc,
		        "bucket '%s' does not exist at %s (create it, or fix the tier "
		        "url %s)",
		        d->bucket, d->endpoint, d->where);
	else if (rc == TIER_EUSAGE)
		rc = tier_error_set(
		        rc, "the store at %s refuses the tier url %s: %ld %s%s",
		        d->endpoint, d->where, d->status, c, extra);
	else if (rc == TIER_ENOTFOUND)
		rc = tier_error_set(rc, "cannot %s '%s' on %s: not found", verb,
		                    shown, d->where);
	else if (rc == TIER_ECONFLICT)
		rc = tier_error_set(rc, "cannot %s '%s' on %s: it exists", verb,
		                    shown, d->where);
	else if (rc == TIER_ENOSPC)
		rc = tier_error_set(rc,
		                    "cannot %s '%s' on %s: no space (%ld %s%s)",
		                    verb, shown, d->where, d->status,
		                    *c ? c : "Insufficient Storage", extra);
	else if (rc == TIER_EUNSUPPORTED)
		rc = tier_error_set(
		        rc,
		        "cannot %s '%s' on %s: the store does not implement it (%ld %s%s)",
		        verb, shown, d->where, d->status, c, extra);
	else
		rc = tier_error_set(
		        rc,
		        "cannot %s '%s' on %s: the store answered %ld%s%s%s",
		        verb, shown, d->where, d->status, *c ? " " : "", c,
		        extra);
	tier_buf_dispose(&code);
	tier_buf_dispose(&msg);
	return rc;
}

static int setup_fail(s3_driver *d, CURLcode rc)
{
	return tier_error_set(TIER_ERROR, "cannot set up a request to %s: %s",
	                      d->where, curl_easy_strerror(rc));
}

/*
 * Run one request.  Returns 0 for a 2xx answer, else a tier code with the
 * message set: verb and shown name the operation in it.
 */
static int request(s3_driver *d, const s3_req *r, const char *verb,
                   const char *shown)
{
	CURL *h = d->h;
	CURLcode rc = CURLE_OK;
	struct curl_slist *hdrs = NULL;
	tier_buf url = TIER_BUF_INIT, line = TIER_BUF_INIT;
	long t = (long)d->timeout;
	int out;

	curl_easy_reset(h); /* options only: the connection stays cached */
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

	if (tier_buf_puts(&url, d->base_url) < 0 ||
	    tier_buf_putc(&url, '/') < 0 ||
	    (r->key && s3_encode(&url, r->key, 1) < 0) ||
	    s3_query_build(&url, r->params, r->nparams) < 0) {
		out = TIER_ERROR;
		goto done;
	}
	/* copied by curl_slist_append: the list owns its strings */
	for (struct curl_slist *a = d->auth_headers; a; a = a->next)
		if (!(hdrs = curl_slist_append(hdrs, a->data)))
			goto oom;
	if (r->if_none_match) {
		tier_buf_clear(&line);
		if (tier_buf_printf(&line, "If-None-Match: %s",
		                    r->if_none_match) < 0 ||
		    !(hdrs = curl_slist_append(hdrs, line.ptr)))
			goto oom;
	}
	if (r->post &&
	    !(hdrs = curl_slist_append(hdrs, "Content-Type: application/xml")))
		goto oom;

#define SET(opt, val)                                       \
	do {                                                \
		if (rc == CURLE_OK)                         \
			rc = curl_easy_setopt(h, opt, val); \
	} while (0)
	SET(CURLOPT_URL, url.ptr);
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
#undef SET
	if (rc != CURLE_OK) {
		out = setup_fail(d, rc);
		goto done;
	}

	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &d->status);
	if (d->get_stopped) {
		out = tier_error_set(TIER_EABORTED,
		                     "get '%s' on %s stopped by the receiver",
		                     shown, d->where);
	} else if (d->up.read_errno) {
		out = tier_error_set_errno(TIER_ERROR, d->up.read_errno,
		                           "cannot read the data for '%s'",
		                           shown);
	} else if (rc != CURLE_OK &&
	           !(rc == CURLE_WRITE_ERROR && d->get_enough)) {
		if (rc == CURLE_WRITE_ERROR && d->body_overflow)
			out = tier_error_set(
			        TIER_ECORRUPT,
			        "cannot %s '%s' on %s: the answer is larger than %u bytes",
			        verb, shown, d->where, (unsigned)d->body_max);
		else if (rc == CURLE_WRITE_ERROR)
			out = tier_error_set(TIER_ERROR, "out of memory");
		else {
			const char *what = d->errbuf[0]
			                           ? d->errbuf
			                           : curl_easy_strerror(rc);
			size_t l = strlen(what);
			while (l > 0 &&
			       (what[l - 1] == '\n' || what[l - 1] == '\r'))
				l--;
			out = transport_code(rc);
			if (out == TIER_EAUTH)
				out = tier_error_set(
				        out,
				        "TLS certificate of %s not trusted (permanent: give the "
				        "CA file with cacert, or use insecure): %.*s",
				        d->endpoint, (int)l, what);
			else
				out = tier_error_set(
				        out, "cannot %s '%s' on %s: %.*s", verb,
				        shown, d->where, (int)l, what);
		}
	} else if (d->status >= 200 && d->status < 300) {
		out = 0;
	} else {
		out = http_fail(d, verb, shown);
	}
	goto done;

oom:
	out = tier_error_set(TIER_ERROR, "out of memory");
done:
	/* nothing of this request may point at the caller's memory any more */
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	d->streaming = 0;
	d->up.src = NULL;
	tier_buf_dispose(&url);
	tier_buf_dispose(&line);
	return out;
}

/* The request on the object of a tier path. */
static int object_request(s3_driver *d, s3_req *r, const char *rel,
                          const char *verb)
{
	tier_buf key = TIER_BUF_INIT;
	int rc = key_of(d, &key, rel);
	if (rc == 0) {
		r->key = key.ptr;
		rc = request(d, r, verb, rel);
		r->key = NULL;
	}
	tier_buf_dispose(&key);
	return rc;
}

/* ---- ping and stale uploads ------------------------------------------- */

/* "prefix/dir/" as a listing prefix ("" for the bucket root). */
static int dir_prefix(s3_driver *d, tier_buf *out, const char *dir)
{
	int rc = key_of(d, out, dir);
	if (rc == 0 && out->size && tier_buf_putc(out, '/') < 0)
		rc = TIER_ERROR;
	return rc;
}

int tier_s3_abort_stale_uploads(tier_driver *drv, int64_t older_than,
                                unsigned int *aborted)
{
	s3_driver *d = sd_of(drv);
	tier_buf prefix = TIER_BUF_INIT, key = TIER_BUF_INIT,
	         id = TIER_BUF_INIT, when = TIER_BUF_INIT,
	         key_marker = TIER_BUF_INIT, id_marker = TIER_BUF_INIT;
	tier_vec doomed = TIER_VEC_INIT; /* "key\0uploadid" pairs */
	int64_t now = (int64_t)time(NULL);
	int rc, truncated = 1;

	if (aborted)
		*aborted = 0;
	if ((rc = dir_prefix(d, &prefix, "")) < 0)
		return rc;
	for (int page = 0; rc == 0 && truncated && page < 100; page++) {
		s3_param p[4] = {{"uploads", NULL}, {"prefix", prefix.ptr}};
		size_t np = 2;
		if (key_marker.size) {
			p[np++] = (s3_param){"key-marker", key_marker.ptr};
			p[np++] = (s3_param){"upload-id-marker",
			                     tier_buf_cstr(&id_marker)};
		}
		s3_req r = {.method = "GET", .params = p, .nparams = np};
		if ((rc = request(d, &r, "list uploads", ".")) < 0)
			break;
		s3_xml x = {d->body.ptr, d->body.ptr + d->body.size}, up;
		truncated = s3_xml_text(&x, "IsTruncated", &when) &&
		            !strcmp(when.ptr, "true");
		if (truncated &&
		    (!s3_xml_text(&x, "NextKeyMarker", &key_marker) ||
		     !s3_xml_text(&x, "NextUploadIdMarker", &id_marker)))
			truncated = 0;
		while (s3_xml_next(&x, "Upload", &up)) {
			int64_t t;
			if (!s3_xml_text(&up, "Key", &key) ||
			    !s3_xml_text(&up, "UploadId", &id) ||
			    !s3_xml_text(&up, "Initiated", &when))
				continue;
			t = s3_parse_time(when.ptr);
			if (t < 0 || now - t < older_than)
				continue;
			char *pair = tier_malloc(key.size + id.size + 2);
			if (!pair) {
				rc = TIER_ERROR;
				break;
			}
			memcpy(pair, key.ptr, key.size + 1);
			memcpy(pair + key.size + 1, id.ptr, id.size + 1);
			if (tier_vec_push(&doomed, pair) < 0) {
				free(pair);
				rc = TIER_ERROR;
				break;
			}
		}
	}
	for (size_t i = 0; rc == 0 && i < doomed.length; i++) {
		const char *k = doomed.ptr[i], *u = k + strlen(k) + 1;
		s3_param p[1] = {{"uploadId", u}};
		s3_req r = {.method = "DELETE",
		            .key = k,
		            .params = p,
		            .nparams = 1};
		rc = request(d, &r, "abort upload of", k);
		if (rc == TIER_ENOTFOUND) /* someone else was quicker */
			rc = 0;
		else if (rc == 0 && aborted)
			(*aborted)++;
	}
	tier_vec_dispose(&doomed, free);
	tier_buf_dispose(&prefix);
	tier_buf_dispose(&key);
	tier_buf_dispose(&id);
	tier_buf_dispose(&when);
	tier_buf_dispose(&key_marker);
	tier_buf_dispose(&id_marker);
	return rc;
}

/* A listing of one key under the prefix: proves bucket, credentials and store. */
static int s3_ping(tier_driver *drv)
{
	s3_driver *d = sd_of(drv);
	tier_buf prefix = TIER_BUF_INIT;
	int rc = dir_prefix(d, &prefix, "");
	if (rc == 0) {
		s3_param p[3] = {{"list-type", "2"},
		                 {"max-keys", "1"},
		                 {"prefix", prefix.ptr}};
		s3_req r = {.method = "GET", .params = p, .nparams = 3};
		rc = request(d, &r, "reach", ".");
	}
	tier_buf_dispose(&prefix);
	if (rc == 0 && !d->cleaned) {
		/* housekeeping, best effort: a failure here is not the ping's */
		d->cleaned = 1;
		tier_s3_abort_stale_uploads(drv, S3_STALE_UPLOAD_AGE, NULL);
		tier_error_clear();
	}
	return rc;
}

/* ---- stat, get ---------------------------------------------------------- */

static int s3_stat(tier_driver *drv, const char *path, tier_stat *out)
{
	s3_driver *d = sd_of(drv);
	curl_off_t size = -1;
	long mtime = -1;
	int rc = tier_driver_check_path(path, 1);

	memset(out, 0, sizeof(*out));
	if (rc < 0)
		return rc;
	if (!*path) { /* the tier root: a prefix, always there when the bucket is */
		if ((rc = s3_ping(drv)) < 0)
			return rc;
		out->is_dir = 1;
		return 0;
	}
	/* a key prefix ("directory") has no object: it is not found (docs/s3.md) */
	s3_req r = {.method = "HEAD", .filetime = 1};
	if ((rc = object_request(d, &r, path, "stat")) < 0)
		return rc;
	curl_easy_getinfo(d->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &size);
	curl_easy_getinfo(d->h, CURLINFO_FILETIME, &mtime);
	out->size = size > 0 ? (uint64_t)size : 0;
	out->mtime = mtime > 0 ? (int64_t)mtime : 0;
	return 0;
}

static int s3_get(tier_driver *drv, const char *path, uint64_t offset,
                  uint64_t len, tier_sink_cb sink, void *payload)
{
	s3_driver *d = sd_of(drv);
	char range[64];
	int rc = tier_driver_check_path(path, 0);

	if (rc < 0)
		return rc;
	if (len == 0)
		return 0;
	if (offset > (uint64_t)INT64_MAX ||
	    (len != UINT64_MAX && len > (uint64_t)INT64_MAX - offset))
		return tier_error_set(TIER_EUSAGE,
		                      "cannot get '%s' on %s: range too large",
		                      path, d->where);
	d->sink = sink;
	d->sink_payload = payload;
	d->get_offset = offset;
	d->get_left = len;
	d->get_skip = 0;
	d->get_started = 0;
	d->get_delivered = 0;
	d->get_stopped = 0;
	d->get_enough = 0;
	s3_req r = {.method = "GET", .stream = 1};
	if (len != UINT64_MAX) {
		snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, offset,
		         offset + len - 1);
		r.range = range;
	} else if (offset) {
		snprintf(range, sizeof(range), "%" PRIu64 "-", offset);
		r.range = range;
	}
	rc = object_request(d, &r, path, "get");
	if (rc == TIER_ECORRUPT && len == UINT64_MAX) {
		/* 416 for "from offset to the end": fine if offset is the end */
		tier_stat st;
		int e = s3_stat(drv, path, &st);
		if (e < 0)
			return e;
		if (st.size == offset)
			return 0;
		return tier_error_set(TIER_ECORRUPT,
		                      "'%s' on %s is shorter (%" PRIu64
		                      " bytes) than the offset %" PRIu64
		                      " asked for",
		                      path, d->where, st.size, offset);
	}
	if (rc == TIER_ECORRUPT)
		return tier_error_set(TIER_ECORRUPT,
		                      "'%s' on %s is shorter than the %" PRIu64
		                      " bytes asked for at "
		                      "offset %" PRIu64,
		                      path, d->where, len, offset);
	if (rc < 0)
		return rc;
	/* objects are written whole: a short range means a different object */
	if (len != UINT64_MAX && d->get_left > 0)
		return tier_error_set(TIER_ECORRUPT,
		                      "'%s' on %s is shorter than the %" PRIu64
		                      " bytes asked for at "
		                      "offset %" PRIu64 " (got %" PRIu64 ")",
		                      path, d->where, len, offset,
		                      d->get_delivered);
	return 0;
}

/* ---- put ---------------------------------------------------------------- */

static int check_source(const char *path, const tier_source *src)
{
	if (!src || (!src->data && src->fd < 0))
		return tier_error_set(TIER_EUSAGE, "put '%s': no source", path);
	return 0;
}

/* Abort a multipart upload; best effort, the put has failed already. */
static void abort_upload(s3_driver *d, const char *rel, const char *upload_id)
{
	char saved[1024];
	int code = tier_error_last_code();
	snprintf(saved, sizeof(saved), "%s", tier_error_last());
	s3_param p[1] = {{"uploadId", upload_id}};
	s3_req r = {.method = "DELETE", .params = p, .nparams = 1};
	object_request(d, &r, rel, "abort upload of");
	tier_error_set(code, "%s", saved);
}

/* The 200 of CompleteMultipartUpload may still carry an <Error>. */
static int complete_error(s3_driver *d, const char *rel)
{
	s3_xml x = {d->body.ptr,
	            d->body.ptr ? d->body.ptr + d->body.size : NULL},
	       in;
	if (!d->body.ptr || !s3_xml_next(&x, "Error", &in))
		return 0;
	long saved = d->status;
	d->status = 500; /* "InternalError" and the like: retried */
	int rc = http_fail(d, "put", rel);
	d->status = saved;
	return rc;
}

static int multipart_put(s3_driver *d, const char *path, const tier_source *src,
                         unsigned int flags)
{
	tier_buf id = TIER_BUF_INIT, xml = TIER_BUF_INIT, num = TIER_BUF_INIT;
	uint64_t nparts = (src->size + S3_PART_SIZE - 1) / S3_PART_SIZE;
	int rc;

	if (flags & TIER_PUT_EXCLUSIVE) {
		/*
		 * Not every store honours If-None-Match on the completion, so look
		 * first too (a race remains: docs/s3.md).
		 */
		tier_stat st;
		rc = s3_stat(&d->base, path, &st);
		if (rc == 0)
			return tier_error_set(
			        TIER_ECONFLICT,
			        "cannot put '%s' on %s: it exists", path,
			        d->where);
		if (rc != TIER_ENOTFOUND)
			return rc;
		tier_error_clear();
	}
	{
		s3_param p[1] = {{"uploads", NULL}};
		s3_req r = {.method = "POST", .params = p, .nparams = 1};
		if ((rc = object_request(d, &r, path, "put")) < 0)
			return rc;
		s3_xml x = {d->body.ptr,
		            d->body.ptr ? d->body.ptr + d->body.size : NULL};
		if (!d->body.ptr || !s3_xml_text(&x, "UploadId", &id) ||
		    !id.size)
			return tier_error_set(
			        TIER_EOFFLINE,
			        "cannot put '%s' on %s: the store started a multipart "
			        "upload without an upload id",
			        path, d->where);
	}
	rc = tier_buf_puts(&xml, "<CompleteMultipartUpload>");
	for (uint64_t i = 0; rc == 0 && i < nparts; i++) {
		uint64_t off = i * S3_PART_SIZE;
		uint64_t len = src->size - off < S3_PART_SIZE ? src->size - off
		                                              : S3_PART_SIZE;
		tier_buf_clear(&num);
		if ((rc = tier_buf_printf(&num, "%" PRIu64, i + 1)) < 0)
			break;
		s3_param p[2] = {{"partNumber", num.ptr}, {"uploadId", id.ptr}};
		s3_req r = {.method = "PUT",
		            .params = p,
		            .nparams = 2,
		            .src = src,
		            .off = off,
		            .len = len};
		if ((rc = object_request(d, &r, path, "put")) < 0)
			break;
		if (!d->etag.size) {
			rc = tier_error_set(
			        TIER_EOFFLINE,
			        "cannot put '%s' on %s: the store gave part %" PRIu64
			        " no ETag",
			        path, d->where, i + 1);
			break;
		}
		/* the ETag is quoted already; escape it for XML all the same */
		rc = tier_buf_printf(&xml,
		                     "<Part><PartNumber>%" PRIu64
		                     "</PartNumber><ETag>",
		                     i + 1);
		for (size_t k = 0; rc == 0 && k < d->etag.size; k++) {
			char c = d->etag.ptr[k];
			rc = c == '"'   ? tier_buf_puts(&xml, "&quot;")
			     : c == '&' ? tier_buf_puts(&xml, "&amp;")
			     : c == '<' ? tier_buf_puts(&xml, "&lt;")
			                : tier_buf_putc(&xml, c);
		}
		if (rc == 0)
			rc = tier_buf_puts(&xml, "</ETag></Part>");
	}
	if (rc == 0)
		rc = tier_buf_puts(&xml, "</CompleteMultipartUpload>");
	if (rc == 0) {
		s3_param p[1] = {{"uploadId", id.ptr}};
		s3_req r = {.method = "POST",
		            .params = p,
		            .nparams = 1,
		            .post = xml.ptr,
		            .post_len = xml.size,
		            .if_none_match =
		                    (flags & TIER_PUT_EXCLUSIVE) ? "*" : NULL};
		rc = object_request(d, &r, path, "put");
		if (rc == 0)
			rc = complete_error(d, path);
	}
	if (rc < 0)
		abort_upload(d, path, id.ptr);
	tier_buf_dispose(&id);
	tier_buf_dispose(&xml);
	tier_buf_dispose(&num);
	return rc;
}

static int s3_put(tier_driver *drv, const char *path, const tier_source *src,
                  unsigned int flags)
{
	s3_driver *d = sd_of(drv);
	int rc = tier_driver_check_path(path, 0);
	if (rc < 0 || (rc = check_source(path, src)) < 0)
		return rc;
	if (src->size > S3_SINGLE_PUT_MAX)
		return multipart_put(d, path, src, flags);
	/* one PUT: the object appears whole when it completes, or not at all */
	s3_req r = {.method = "PUT",
	            .src = src,
	            .off = 0,
	            .len = src->size,
	            .if_none_match = (flags & TIER_PUT_EXCLUSIVE) ? "*" : NULL};
	return object_request(d, &r, path, "put");
}

/* ---- remove, rename, mkdir --------------------------------------------- */

static int s3_remove(tier_driver *drv, const char *path)
{
	s3_driver *d = sd_of(drv);
	int rc = tier_driver_check_path(path, 0);
	if (rc < 0)
		return rc;
	/* DELETE of a missing key is a 204 too: ask first (docs/s3.md) */
	s3_req head = {.method = "HEAD"};
	if ((rc = object_request(d, &head, path, "remove")) < 0)
		return rc;
	s3_req r = {.method = "DELETE"};
	return object_request(d, &r, path, "remove");
}

static int s3_rename(tier_driver *drv, const char *from, const char *to)
{
	s3_driver *d = sd_of(drv);
	return tier_error_set(
	        TIER_EUNSUPPORTED,
	        "cannot rename '%s' to '%s' on %s: object stores have no rename",
	        from, to, d->where);
}

static int s3_mkdir_p(tier_driver *drv, const char *path)
{
	/* key prefixes need no creating */
	return tier_driver_check_path(path, 1);
}

/* ---- list --------------------------------------------------------------- */

static int add_item(tier_listing *items, const char *name, size_t n,
                    const tier_stat *st)
{
	if (n == 0 ||
	    memchr(name, '/', n)) /* a "dir/" marker object, or odd keys */
		return 0;
	return tier_listing_add(items, name, n, st);
}

static int s3_list(tier_driver *drv, const char *dir, tier_list_cb cb,
                   void *payload)
{
	s3_driver *d = sd_of(drv);
	tier_listing items = TIER_LISTING_INIT;
	tier_buf prefix = TIER_BUF_INIT, token = TIER_BUF_INIT,
	         text = TIER_BUF_INIT, val = TIER_BUF_INIT;
	char maxk[16];
	int rc = tier_driver_check_path(dir, 1), truncated = 1, seen = 0;

	if (rc < 0)
		return rc;
	if ((rc = dir_prefix(d, &prefix, dir)) < 0)
		goto out;
	snprintf(maxk, sizeof(maxk), "%u", d->max_keys);
	while (truncated) {
		s3_param p[5] = {{"delimiter", "/"},
		                 {"list-type", "2"},
		                 {"prefix", prefix.ptr}};
		size_t np = 3;
		if (d->max_keys)
			p[np++] = (s3_param){"max-keys", maxk};
		if (token.size)
			p[np++] = (s3_param){"continuation-token", token.ptr};
		s3_req r = {.method = "GET", .params = p, .nparams = np};
		if ((rc = request(d, &r, "list", *dir ? dir : ".")) < 0)
			goto out;

		s3_xml x = {d->body.ptr,
		            d->body.ptr ? d->body.ptr + d->body.size : NULL},
		       in;
		truncated = s3_xml_text(&x, "IsTruncated", &val) &&
		            !strcmp(val.ptr, "true");
		if (truncated &&
		    (!s3_xml_text(&x, "NextContinuationToken", &token) ||
		     !token.size)) {
			rc = tier_error_set(
			        TIER_EOFFLINE,
			        "cannot list '%s' on %s: the store cut the listing short "
			        "without a continuation token",
			        *dir ? dir : ".", d->where);
			goto out;
		}
		s3_xml scan = x;
		while (s3_xml_next(&scan, "Contents", &in)) {
			tier_stat st = {0};
			if (!s3_xml_text(&in, "Key", &text))
				continue;
			if (s3_xml_text(&in, "Size", &val))
				st.size = strtoull(val.ptr, NULL, 10);
			if (s3_xml_text(&in, "LastModified", &val)) {
				int64_t t = s3_parse_time(val.ptr);
				st.mtime = t > 0 ? t : 0;
			}
			seen = 1;
			if (text.size < prefix.size ||
			    memcmp(text.ptr, prefix.ptr, prefix.size))
				continue;
			if ((rc = add_item(&items, text.ptr + prefix.size,
			                   text.size - prefix.size, &st)) < 0)
				goto out;
		}
		scan = x;
		while (s3_xml_next(&scan, "CommonPrefixes", &in)) {
			tier_stat st = {0};
			st.is_dir = 1;
			if (!s3_xml_text(&in, "Prefix", &text))
				continue;
			seen = 1;
			if (text.size <= prefix.size ||
			    memcmp(text.ptr, prefix.ptr, prefix.size))
				continue;
			size_t n = text.size - prefix.size;
			if (text.ptr[text.size - 1] == '/')
				n--;
			if ((rc = add_item(&items, text.ptr + prefix.size, n,
			                   &st)) < 0)
				goto out;
		}
	}
	/* no key under the prefix: the directory does not exist (the root always does) */
	if (!seen && *dir) {
		rc = tier_error_set(TIER_ENOTFOUND,
		                    "cannot list '%s' on %s: not found", dir,
		                    d->where);
		goto out;
	}

	rc = tier_listing_deliver(&items, cb, payload, dir, d->where);
out:
	tier_listing_dispose(&items);
	tier_buf_dispose(&prefix);
	tier_buf_dispose(&token);
	tier_buf_dispose(&text);
	tier_buf_dispose(&val);
	tier_buf_clear(&d->body);
	return rc;
}

/* ---- open / free --------------------------------------------------------- */

static void s3_free(tier_driver *drv)
{
	s3_driver *d = sd_of(drv);
	if (!d)
		return;
	if (d->h)
		curl_easy_cleanup(d->h);
	curl_slist_free_all(d->auth_headers);
	s3_creds_dispose(&d->creds);
	free(d->base_url);
	free(d->endpoint);
	free(d->bucket);
	free(d->prefix);
	free(d->sigv4);
	free(d->where);
	free(d->cacert);
	tier_buf_dispose(&d->body);
	tier_buf_dispose(&d->etag);
	free(d);
}

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

/* Bucket names as S3 allows them; anything else cannot be a host name part. */
static int check_bucket(const char *b, const char *where)
{
	size_t n = strlen(b);
	if (n < 3 || n > 63)
		goto bad;
	for (const char *p = b; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '.' || *p == '_' ||
		      (*p >= 'A' && *p <= 'Z')))
			goto bad;
	return 0;
bad:
	return tier_error_set(
	        TIER_EUSAGE,
	        "bad bucket name '%s' in tier url %s: 3 to 63 letters, digits, '-' "
	        "and '.'",
	        b, where);
}

/*
 * Where the requests go.  The endpoint comes from ?endpoint= ("http://host:port",
 * "host:port" meaning https), else AWS in the region.  Path style puts the
 * bucket in the path (the default with an endpoint: RGW and MinIO), virtual
 * style in the host name (the default on AWS).
 */
static int set_endpoint(s3_driver *d, const s3_query *q, const char *region)
{
	tier_buf b = TIER_BUF_INIT;
	const char *ep = q->endpoint;
	int virtual_style = q->virtual_style;
	int rc = 0;

	if (ep) {
		if (strstr(ep, "://") && strncmp(ep, "http://", 7) &&
		    strncmp(ep, "https://", 8))
			return tier_error_set(
			        TIER_EUSAGE,
			        "bad endpoint '%s' in tier url %s: use http://host:port or "
			        "https://host",
			        ep, d->where);
		rc = tier_buf_printf(&b, "%s%s",
		                     strstr(ep, "://") ? "" : "https://", ep);
		if (virtual_style < 0)
			virtual_style = 0;
	} else {
		rc = tier_buf_printf(&b, "https://s3.%s.amazonaws.com", region);
		if (virtual_style < 0)
			virtual_style = 1;
	}
	while (rc == 0 && b.size && b.ptr[b.size - 1] == '/')
		b.ptr[--b.size] = '\0';
	if (rc < 0 || !(d->endpoint = tier_strdup(b.ptr))) {
		tier_buf_dispose(&b);
		return TIER_ERROR;
	}
	tier_buf_clear(&b);
	if (virtual_style) {
		const char *host = strstr(d->endpoint, "://") + 3;
		rc = tier_buf_put(&b, d->endpoint,
		                  (size_t)(host - d->endpoint));
		if (rc == 0)
			rc = tier_buf_printf(&b, "%s.%s", d->bucket, host);
	} else {
		rc = tier_buf_printf(&b, "%s/", d->endpoint);
		if (rc == 0)
			rc = s3_encode(&b, d->bucket, 0);
	}
	if (rc < 0) {
		tier_buf_dispose(&b);
		return TIER_ERROR;
	}
	d->base_url = tier_buf_detach(&b);
	return 0;
}

int tier_driver_s3_open(tier_driver **out, const tier_url *url,
                        const tier_location_options *opts)
{
	static const tier_location_options defaults =
	        TIER_LOCATION_OPTIONS_INIT;
	s3_query q;
	s3_driver *d;
	tier_buf b = TIER_BUF_INIT;
	const char *region;
	int rc;

	*out = NULL;
	if (!opts)
		opts = &defaults;
	if ((rc = tier_curl_global_init()) < 0)
		return rc;
	if (!url || !url->scheme || strcmp(url->scheme, "s3"))
		return tier_error_set(TIER_EUSAGE,
		                      "the s3 driver cannot do '%s://'",
		                      url && url->scheme ? url->scheme : "");
	if (!url->host || !*url->host)
		return tier_error_set(
		        TIER_EUSAGE,
		        "s3 tier url needs a bucket: s3://bucket/prefix");
	if (!(d = tier_calloc(1, sizeof(*d))))
		return TIER_ERROR;
	d->timeout = opts->timeout ? opts->timeout : TIER_DEFAULT_TIMEOUT_S;
	d->max_send = opts->max_send_speed;
	d->max_recv = opts->max_recv_speed;
	d->insecure = opts->insecure;

	/* the prefix without its '/' at either end */
	{
		const char *p = url->path ? url->path : "";
		size_t n;
		while (*p == '/')
			p++;
		n = strlen(p);
		while (n > 0 && p[n - 1] == '/')
			n--;
		if (!(d->prefix = tier_strndup(p, n)) ||
		    !(d->bucket = tier_strdup(url->host))) {
			rc = TIER_ERROR;
			goto fail;
		}
	}
	if (tier_buf_printf(&b, "s3://%s/%s", d->bucket, d->prefix) < 0) {
		rc = TIER_ERROR;
		goto fail;
	}
	d->where = tier_buf_detach(&b);
	if ((rc = check_bucket(d->bucket, d->where)) < 0)
		goto fail;
	if (*d->prefix && (rc = tier_driver_check_path(d->prefix, 0)) < 0) {
		rc = tier_error_set(TIER_EUSAGE,
		                    "bad key prefix '%s' in tier url %s",
		                    d->prefix, d->where);
		goto fail;
	}

	if ((rc = s3_query_parse(&q, url->query, d->where)) < 0)
		goto fail;
	region = q.region                     ? q.region
	         : env_nonempty("AWS_REGION") ? env_nonempty("AWS_REGION")
	         : env_nonempty("AWS_DEFAULT_REGION")
	                 ? env_nonempty("AWS_DEFAULT_REGION")
	                 : "us-east-1";
	rc = tier_buf_printf(&b, "aws:amz:%s:s3", region);
	if (rc == 0 && !(d->sigv4 = tier_buf_detach(&b)))
		rc = TIER_ERROR;
	if (rc == 0)
		rc = set_endpoint(d, &q, region);
	s3_query_dispose(&q);
	if (rc < 0)
		goto fail;

	if ((rc = s3_creds_find(&d->creds, url->user, url->password,
	                        d->where)) < 0)
		goto fail;
	/* libcurl signs this header and takes it as the payload hash */
	if (!(d->auth_headers = curl_slist_append(
	              NULL, "x-amz-content-sha256: UNSIGNED-PAYLOAD"))) {
		rc = tier_error_set(TIER_ERROR, "out of memory");
		goto fail;
	}
	if (d->creds.token) {
		struct curl_slist *n;
		if (tier_buf_printf(&b, "x-amz-security-token: %s",
		                    d->creds.token) < 0 ||
		    !(n = curl_slist_append(d->auth_headers, b.ptr))) {
			rc = tier_error_set(TIER_ERROR, "out of memory");
			goto fail;
		}
		d->auth_headers = n;
		memset(b.ptr, 0, b.size);
		tier_buf_clear(&b);
	}
	if (opts->cacert && !(d->cacert = tier_strdup(opts->cacert))) {
		rc = TIER_ERROR;
		goto fail;
	}
	/* test hook: small listing pages, to test pagination (docs/s3.md) */
	if (env_nonempty("TIER_TEST_S3_MAX_KEYS"))
		d->max_keys = (unsigned int)strtoul(
		        getenv("TIER_TEST_S3_MAX_KEYS"), NULL, 10);

	if (!(d->h = curl_easy_init())) {
		rc = tier_error_set(TIER_ERROR,
		                    "cannot create a libcurl handle");
		goto fail;
	}

	d->base.version = TIER_DRIVER_VERSION;
	/* PUT with If-None-Match: * is create-only; no directories, no rename */
	d->base.caps = TIER_DRIVER_CAP_EXCLUSIVE;
	d->base.ping = s3_ping;
	d->base.stat = s3_stat;
	d->base.get = s3_get;
	d->base.put = s3_put;
	d->base.rename = s3_rename;
	d->base.list = s3_list;
	d->base.remove = s3_remove;
	d->base.mkdir_p = s3_mkdir_p;
	d->base.free = s3_free;
	*out = &d->base;
	return 0;

fail:
	tier_buf_dispose(&b);
	s3_free(&d->base);
	return rc;
}
