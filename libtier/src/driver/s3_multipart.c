/*
 * Multipart uploads of the s3:// driver: a put above 64 MiB goes up in
 * 16 MiB parts and is completed with one POST (the object appears whole
 * then, or not at all); a failed one is aborted, and the leftovers of one
 * that could not be aborted are removed after a day
 * (tier_s3_abort_stale_uploads, from the first ping of a later run).
 */
#include "driver/drivers.h"
#include "driver/s3_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/posix.h"

/* Stale uploads being looked for, page by page of ListMultipartUploads. */
struct s3_stale_run {
	s3_driver *d;
	int64_t now, older_than;
	tier_buf prefix, key, id, when, key_marker, id_marker;
	tier_vec doomed; /* "key\0uploadid" pairs */
};

/* Keep one <Upload> of a page to abort if it is old enough. */
static int stale_take(struct s3_stale_run *s, const s3_xml *up)
{
	int64_t t;
	if (!s3_xml_text(up, "Key", &s->key) ||
	    !s3_xml_text(up, "UploadId", &s->id) ||
	    !s3_xml_text(up, "Initiated", &s->when))
		return 0;
	t = s3_parse_time(s->when.ptr);
	if (t < 0 || s->now - t < s->older_than)
		return 0;
	char *pair = tier_malloc(s->key.size + s->id.size + 2);
	if (!pair)
		return TIER_ERROR;
	memcpy(pair, s->key.ptr, s->key.size + 1);
	memcpy(pair + s->key.size + 1, s->id.ptr, s->id.size + 1);
	if (tier_vec_push(&s->doomed, pair) < 0) {
		free(pair);
		return TIER_ERROR;
	}
	return 0;
}

/* One page of the uploads under the prefix; whether more follow. */
static int stale_page(struct s3_stale_run *s, int *truncated)
{
	s3_driver *d = s->d;
	s3_param p[4] = {{"uploads", NULL}, {"prefix", s->prefix.ptr}};
	size_t np = 2;
	int rc;

	if (s->key_marker.size) {
		p[np++] = (s3_param){"key-marker", s->key_marker.ptr};
		p[np++] = (s3_param){"upload-id-marker",
		                     tier_buf_cstr(&s->id_marker)};
	}
	s3_req r = {.method = "GET", .params = p, .nparams = np};
	if ((rc = tier_s3_request(d, &r, "list uploads", ".")) < 0)
		return rc;
	s3_xml x = {d->body.ptr, d->body.ptr + d->body.size}, up;
	*truncated = s3_xml_text(&x, "IsTruncated", &s->when) &&
	             !strcmp(s->when.ptr, "true");
	if (*truncated &&
	    (!s3_xml_text(&x, "NextKeyMarker", &s->key_marker) ||
	     !s3_xml_text(&x, "NextUploadIdMarker", &s->id_marker)))
		*truncated = 0;
	while (s3_xml_next(&x, "Upload", &up))
		if ((rc = stale_take(s, &up)) < 0)
			return rc;
	return 0;
}

/* Abort the uploads found; one already gone was aborted by someone else. */
static int stale_abort(struct s3_stale_run *s, unsigned int *aborted)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < s->doomed.length; i++) {
		const char *k = s->doomed.ptr[i], *u = k + strlen(k) + 1;
		s3_param p[1] = {{"uploadId", u}};
		s3_req r = {.method = "DELETE",
		            .key = k,
		            .params = p,
		            .nparams = 1};
		rc = tier_s3_request(s->d, &r, "abort upload of", k);
		if (rc == TIER_ENOTFOUND) /* someone else was quicker */
			rc = 0;
		else if (rc == 0 && aborted)
			(*aborted)++;
	}
	return rc;
}

int tier_s3_abort_stale_uploads(tier_driver *drv, int64_t older_than,
                                unsigned int *aborted)
{
	struct s3_stale_run s = {.d = tier_s3_of(drv),
	                         .now = (int64_t)time(NULL),
	                         .older_than = older_than,
	                         .prefix = TIER_BUF_INIT,
	                         .key = TIER_BUF_INIT,
	                         .id = TIER_BUF_INIT,
	                         .when = TIER_BUF_INIT,
	                         .key_marker = TIER_BUF_INIT,
	                         .id_marker = TIER_BUF_INIT,
	                         .doomed = TIER_VEC_INIT};
	int rc, truncated = 1;

	if (aborted)
		*aborted = 0;
	if ((rc = tier_s3_dir_prefix(s.d, &s.prefix, "")) < 0)
		return rc;
	for (int page = 0; rc == 0 && truncated && page < 100; page++)
		rc = stale_page(&s, &truncated);
	if (rc == 0)
		rc = stale_abort(&s, aborted);
	tier_vec_dispose(&s.doomed, free);
	tier_buf_dispose(&s.prefix);
	tier_buf_dispose(&s.key);
	tier_buf_dispose(&s.id);
	tier_buf_dispose(&s.when);
	tier_buf_dispose(&s.key_marker);
	tier_buf_dispose(&s.id_marker);
	return rc;
}

/* Abort a multipart upload; best effort, the put has failed already. */
static void abort_upload(s3_driver *d, const char *rel, const char *upload_id)
{
	tier_error_saved err;
	tier_error_save(&err);
	s3_param p[1] = {{"uploadId", upload_id}};
	s3_req r = {.method = "DELETE", .params = p, .nparams = 1};
	tier_s3_object_request(d, &r, rel, "abort upload of");
	tier_error_restore(&err);
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
	int rc = tier_s3_http_fail(d, "put", rel);
	d->status = saved;
	return rc;
}

/*
 * An exclusive put: not every store honours If-None-Match on the
 * completion, so look first too (a race remains: docs/s3.md).
 */
static int multipart_check_absent(s3_driver *d, const char *path)
{
	tier_stat st;
	int rc = tier_s3_stat(&d->base, path, &st);
	if (rc == 0)
		return tier_error_set(TIER_ECONFLICT,
		                      "cannot put '%s' on %s: it exists", path,
		                      d->where);
	if (rc != TIER_ENOTFOUND)
		return rc;
	tier_error_clear();
	return 0;
}

/* InitiateMultipartUpload: the upload id into id. */
static int multipart_start(s3_driver *d, const char *path, tier_buf *id)
{
	s3_param p[1] = {{"uploads", NULL}};
	s3_req r = {.method = "POST", .params = p, .nparams = 1};
	int rc = tier_s3_object_request(d, &r, path, "put");
	if (rc < 0)
		return rc;
	s3_xml x = {d->body.ptr,
	            d->body.ptr ? d->body.ptr + d->body.size : NULL};
	if (!d->body.ptr || !s3_xml_text(&x, "UploadId", id) || !id->size)
		return tier_error_set(
		        TIER_EOFFLINE,
		        "cannot put '%s' on %s: the store started a multipart "
		        "upload without an upload id",
		        path, d->where);
	return 0;
}

/* "<Part>" of part number n with the ETag the store gave it, into xml. */
static int multipart_add_part(s3_driver *d, tier_buf *xml, uint64_t n)
{
	/* the ETag is quoted already; escape it for XML all the same */
	int rc = tier_buf_printf(
	        xml, "<Part><PartNumber>%" PRIu64 "</PartNumber><ETag>", n);
	for (size_t k = 0; rc == 0 && k < d->etag.size; k++) {
		char c = d->etag.ptr[k];
		rc = c == '"'   ? tier_buf_puts(xml, "&quot;")
		     : c == '&' ? tier_buf_puts(xml, "&amp;")
		     : c == '<' ? tier_buf_puts(xml, "&lt;")
		                : tier_buf_putc(xml, c);
	}
	if (rc == 0)
		rc = tier_buf_puts(xml, "</ETag></Part>");
	return rc;
}

/* UploadPart of every part, each one's entry of the completion into xml. */
static int multipart_parts(s3_driver *d, const char *path,
                           const tier_source *src, const char *id,
                           tier_buf *xml)
{
	uint64_t nparts = (src->size + S3_PART_SIZE - 1) / S3_PART_SIZE;
	tier_buf num = TIER_BUF_INIT;
	int rc = 0;

	for (uint64_t i = 0; rc == 0 && i < nparts; i++) {
		uint64_t off = i * S3_PART_SIZE;
		uint64_t len = src->size - off < S3_PART_SIZE ? src->size - off
		                                              : S3_PART_SIZE;
		tier_buf_clear(&num);
		if ((rc = tier_buf_printf(&num, "%" PRIu64, i + 1)) < 0)
			break;
		s3_param p[2] = {{"partNumber", num.ptr}, {"uploadId", id}};
		s3_req r = {.method = "PUT",
		            .params = p,
		            .nparams = 2,
		            .src = src,
		            .off = off,
		            .len = len};
		if ((rc = tier_s3_object_request(d, &r, path, "put")) < 0)
			break;
		if (!d->etag.size) {
			rc = tier_error_set(
			        TIER_EOFFLINE,
			        "cannot put '%s' on %s: the store gave part %" PRIu64
			        " no ETag",
			        path, d->where, i + 1);
			break;
		}
		rc = multipart_add_part(d, xml, i + 1);
	}
	tier_buf_dispose(&num);
	return rc;
}

/* CompleteMultipartUpload: the object appears whole now. */
static int multipart_complete(s3_driver *d, const char *path, const char *id,
                              const tier_buf *xml, unsigned int flags)
{
	s3_param p[1] = {{"uploadId", id}};
	s3_req r = {.method = "POST",
	            .params = p,
	            .nparams = 1,
	            .post = xml->ptr,
	            .post_len = xml->size,
	            .if_none_match = (flags & TIER_PUT_EXCLUSIVE) ? "*" : NULL};
	int rc = tier_s3_object_request(d, &r, path, "put");
	if (rc == 0)
		rc = complete_error(d, path);
	return rc;
}

int tier_s3_multipart_put(s3_driver *d, const char *path,
                          const tier_source *src, unsigned int flags)
{
	tier_buf id = TIER_BUF_INIT, xml = TIER_BUF_INIT;
	int rc;

	if ((flags & TIER_PUT_EXCLUSIVE) &&
	    (rc = multipart_check_absent(d, path)) < 0)
		return rc;
	if ((rc = multipart_start(d, path, &id)) < 0) {
		tier_buf_dispose(&id);
		return rc;
	}
	rc = tier_buf_puts(&xml, "<CompleteMultipartUpload>");
	if (rc == 0)
		rc = multipart_parts(d, path, src, id.ptr, &xml);
	if (rc == 0)
		rc = tier_buf_puts(&xml, "</CompleteMultipartUpload>");
	if (rc == 0)
		rc = multipart_complete(d, path, id.ptr, &xml, flags);
	if (rc < 0)
		abort_upload(d, path, id.ptr);
	tier_buf_dispose(&id);
	tier_buf_dispose(&xml);
	return rc;
}
