/*
 * An S3 answer body as a store (or anyone on the way) sends it, read with
 * the helpers of s3_util.c exactly as the driver reads its answers: an
 * Error body, a ListObjectsV2 page (Contents, CommonPrefixes,
 * IsTruncated, NextContinuationToken) and a ListMultipartUploads page;
 * every text decoded, times parsed.  Found elements lie inside the body
 * and decoded text is NUL-terminated at its size.
 */
#include "fuzz.h"

#include "driver/s3_impl.h"
#include "util/error.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

static void text(const s3_xml *x, const char *tag, tier_buf *out)
{
	if (s3_xml_text(x, tag, out)) {
		/* the driver strcmp()s and strtoull()s these */
		FUZZ_CHECK(out->ptr != NULL);
		FUZZ_CHECK(out->ptr[out->size] == '\0');
		if (!strcmp(tag, "LastModified") || !strcmp(tag, "Initiated"))
			(void)s3_parse_time(out->ptr);
	}
}

static void each(const s3_xml *body, const char *tag, const char *const *fields,
                 tier_buf *val)
{
	s3_xml scan = *body, in;
	const char *prev = scan.p;
	while (s3_xml_next(&scan, tag, &in)) {
		FUZZ_CHECK(in.p >= body->p && in.end <= body->end &&
		           in.p <= in.end);
		/* every match moves on: the driver's loops end */
		FUZZ_CHECK(scan.p > prev && scan.p >= in.end &&
		           scan.p <= body->end);
		prev = scan.p;
		for (const char *const *f = fields; *f; f++)
			text(&in, *f, val);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const error_f[] = {"Code", "Message", NULL};
	static const char *const contents_f[] = {"Key", "Size", "LastModified",
	                                         NULL};
	static const char *const prefix_f[] = {"Prefix", NULL};
	static const char *const upload_f[] = {"Key", "UploadId", "Initiated",
	                                       NULL};
	static const char *const top_f[] = {
	        "IsTruncated",   "NextContinuationToken",
	        "NextKeyMarker", "NextUploadIdMarker",
	        "UploadId",      NULL};
	/* exactly size bytes, as the driver's body: reads past it show */
	char *body = malloc(size ? size : 1);
	s3_xml x;
	tier_buf val = TIER_BUF_INIT;

	if (!body)
		abort();
	memcpy(body, data, size);
	x.p = body;
	x.end = body + size;
	each(&x, "Error", error_f, &val);
	for (const char *const *f = top_f; *f; f++) {
		/* each into a fresh buffer, as the driver's are */
		tier_buf fresh = TIER_BUF_INIT;
		text(&x, *f, &fresh);
		tier_buf_dispose(&fresh);
	}
	each(&x, "Contents", contents_f, &val);
	each(&x, "CommonPrefixes", prefix_f, &val);
	each(&x, "Upload", upload_f, &val);
	tier_buf_dispose(&val);
	free(body);
	tier_error_clear();
	return 0;
}
