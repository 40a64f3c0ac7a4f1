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
 *
 * This file opens and frees the driver and holds its table and the object
 * operations (ping, stat, get, put, remove).  One request and its errors
 * are in s3_request.c, multipart uploads in s3_multipart.c, listings in
 * s3_list.c.
 */
#include "driver/curl_util.h"
#include "driver/drivers.h"
#include "driver/s3_impl.h"
#include "driver/listing.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "util/posix.h"

/* A listing of one key under the prefix: proves bucket, credentials and store. */
static int s3_ping(tier_driver *drv)
{
	s3_driver *d = tier_s3_of(drv);
	tier_buf prefix = TIER_BUF_INIT;
	int rc = tier_s3_dir_prefix(d, &prefix, "");
	if (rc == 0) {
		s3_param p[3] = {{"list-type", "2"},
		                 {"max-keys", "1"},
		                 {"prefix", prefix.ptr}};
		s3_req r = {.method = "GET", .params = p, .nparams = 3};
		rc = tier_s3_request(d, &r, "reach", ".");
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

int tier_s3_stat(tier_driver *drv, const char *path, tier_stat *out)
{
	s3_driver *d = tier_s3_of(drv);
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
	if ((rc = tier_s3_object_request(d, &r, path, "stat")) < 0)
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
	s3_driver *d = tier_s3_of(drv);
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
	rc = tier_s3_object_request(d, &r, path, "get");
	if (rc == TIER_ECORRUPT && len == UINT64_MAX) {
		/* 416 for "from offset to the end": fine if offset is the end */
		tier_stat st;
		int e = tier_s3_stat(drv, path, &st);
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

static int s3_put(tier_driver *drv, const char *path, const tier_source *src,
                  unsigned int flags)
{
	s3_driver *d = tier_s3_of(drv);
	int rc = tier_driver_check_path(path, 0);
	if (rc < 0 || (rc = check_source(path, src)) < 0)
		return rc;
	if (src->size > S3_SINGLE_PUT_MAX)
		return tier_s3_multipart_put(d, path, src, flags);
	/* one PUT: the object appears whole when it completes, or not at all */
	s3_req r = {.method = "PUT",
	            .src = src,
	            .off = 0,
	            .len = src->size,
	            .if_none_match = (flags & TIER_PUT_EXCLUSIVE) ? "*" : NULL};
	return tier_s3_object_request(d, &r, path, "put");
}

/* ---- remove, rename, mkdir --------------------------------------------- */

static int s3_remove(tier_driver *drv, const char *path)
{
	s3_driver *d = tier_s3_of(drv);
	int rc = tier_driver_check_path(path, 0);
	if (rc < 0)
		return rc;
	/* DELETE of a missing key is a 204 too: ask first (docs/s3.md) */
	s3_req head = {.method = "HEAD"};
	if ((rc = tier_s3_object_request(d, &head, path, "remove")) < 0)
		return rc;
	s3_req r = {.method = "DELETE"};
	return tier_s3_object_request(d, &r, path, "remove");
}

static int s3_rename(tier_driver *drv, const char *from, const char *to)
{
	s3_driver *d = tier_s3_of(drv);
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

/* ---- open / free --------------------------------------------------------- */

static void s3_free(tier_driver *drv)
{
	s3_driver *d = tier_s3_of(drv);
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

/* Bucket, key prefix (without its '/' at either end), the tier for messages. */
static int open_names(s3_driver *d, const tier_url *url)
{
	const char *p = url->path ? url->path : "";
	tier_buf b = TIER_BUF_INIT;
	size_t n;
	int rc;

	while (*p == '/')
		p++;
	n = strlen(p);
	while (n > 0 && p[n - 1] == '/')
		n--;
	if (!(d->prefix = tier_strndup(p, n)) ||
	    !(d->bucket = tier_strdup(url->host)))
		return TIER_ERROR;
	if (tier_buf_printf(&b, "s3://%s/%s", d->bucket, d->prefix) < 0) {
		tier_buf_dispose(&b);
		return TIER_ERROR;
	}
	d->where = tier_buf_detach(&b);
	if ((rc = check_bucket(d->bucket, d->where)) < 0)
		return rc;
	if (*d->prefix && (rc = tier_driver_check_path(d->prefix, 0)) < 0)
		return tier_error_set(TIER_EUSAGE,
		                      "bad key prefix '%s' in tier url %s",
		                      d->prefix, d->where);
	return 0;
}

/* Region (for the signature) and endpoint, from the query and environment. */
static int open_query(s3_driver *d, const tier_url *url)
{
	tier_buf b = TIER_BUF_INIT;
	const char *region;
	s3_query q;
	int rc = s3_query_parse(&q, url->query, d->where);

	if (rc < 0)
		return rc;
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
	tier_buf_dispose(&b);
	return rc;
}

/* The credentials and the headers every request signs with them. */
static int open_creds(s3_driver *d, const tier_url *url)
{
	tier_buf b = TIER_BUF_INIT;
	struct curl_slist *n;
	int rc = s3_creds_find(&d->creds, url->user, url->password, d->where);

	if (rc < 0)
		return rc;
	/* libcurl signs this header and takes it as the payload hash */
	if (!(d->auth_headers = curl_slist_append(
	              NULL, "x-amz-content-sha256: UNSIGNED-PAYLOAD")))
		return tier_error_set(TIER_ERROR, "out of memory");
	if (!d->creds.token)
		return 0;
	if (tier_buf_printf(&b, "x-amz-security-token: %s", d->creds.token) <
	            0 ||
	    !(n = curl_slist_append(d->auth_headers, b.ptr)))
		rc = tier_error_set(TIER_ERROR, "out of memory");
	else
		d->auth_headers = n;
	if (b.ptr)
		memset(b.ptr, 0, b.size);
	tier_buf_dispose(&b);
	return rc;
}

static void set_table(s3_driver *d)
{
	d->base.version = TIER_DRIVER_VERSION;
	/* PUT with If-None-Match: * is create-only; no directories, no rename */
	d->base.caps = TIER_DRIVER_CAP_EXCLUSIVE;
	d->base.ping = s3_ping;
	d->base.stat = tier_s3_stat;
	d->base.get = s3_get;
	d->base.put = s3_put;
	d->base.rename = s3_rename;
	d->base.list = tier_s3_list;
	d->base.remove = s3_remove;
	d->base.mkdir_p = s3_mkdir_p;
	d->base.free = s3_free;
}

int tier_driver_s3_open(tier_driver **out, const tier_url *url,
                        const tier_location_options *opts)
{
	static const tier_location_options defaults =
	        TIER_LOCATION_OPTIONS_INIT;
	s3_driver *d;
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
	if ((rc = open_names(d, url)) < 0 || (rc = open_query(d, url)) < 0 ||
	    (rc = open_creds(d, url)) < 0)
		goto fail;
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
	set_table(d);
	*out = &d->base;
	return 0;

fail:
	s3_free(&d->base);
	return rc;
}
