/*
 * Internals of the s3:// driver, shared by its files and the unit tests:
 * s3.c (open, free, the table, the object operations), s3_request.c (one
 * signed request and what its answer means), s3_multipart.c (large puts,
 * stale uploads), s3_list.c (listings), s3_util.c (the pure helpers:
 * query, credentials, encoding, XML, time, the error table).  See
 * docs/s3.md.
 */
#ifndef TIER_DRIVER_S3_IMPL_H
#define TIER_DRIVER_S3_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "driver/curl_util.h"
#include "driver/drivers.h"
#include "util/buf.h"

/* One PUT up to this size; multipart upload above it. */
#define S3_SINGLE_PUT_MAX (64ull * 1024 * 1024)
/* Parts of a multipart upload (the last one may be shorter). */
#define S3_PART_SIZE (16ull * 1024 * 1024)
/* Abandoned multipart uploads older than this are aborted. */
#define S3_STALE_UPLOAD_AGE (24 * 3600)

/* Options from the query of an s3:// URL (decoded; NULL when absent). */
typedef struct {
	char *endpoint; /* "http://127.0.0.1:7480", "https://s3.example.com" */
	char *region;   /* "us-east-1" */
	int virtual_style; /* -1 not given, 0 path style, 1 virtual-hosted */
} s3_query;

/**
 * Parse the raw query of an s3:// URL.  An unknown option is TIER_EUSAGE
 * naming it (a typo must not silently send data elsewhere).
 */
int s3_query_parse(s3_query *out, const char *query, const char *where);
void s3_query_dispose(s3_query *q);

/* Credentials; the secret is never shown in a message. */
typedef struct {
	char *key_id;
	char *secret;
	char *token;      /* session token, optional */
	const char *from; /* "url", "environment", or the credentials file */
	char *file;       /* the credentials file used, if any */
} s3_creds;

/**
 * Find credentials: the URL's user:password, else AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), else the shared credentials
 * file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials), section
 * AWS_PROFILE or "default".  None at all is TIER_EUSAGE.
 */
int s3_creds_find(s3_creds *out, const char *url_user, const char *url_password,
                  const char *where);
void s3_creds_dispose(s3_creds *c);

/**
 * Read one profile of an AWS shared credentials file (INI).  Returns 0,
 * TIER_ENOTFOUND when the file or profile is missing or incomplete.
 */
int s3_creds_from_file(s3_creds *out, const char *path, const char *profile);

/**
 * Percent-encode as SigV4 wants it: every byte but A-Z a-z 0-9 - . _ ~ is
 * %XX (uppercase); '/' is kept when keep_slash.
 */
int s3_encode(tier_buf *out, const char *s, int keep_slash);

/** Query parameter (name already plain; value encoded here). */
typedef struct {
	const char *name;
	const char *value; /* NULL or "" gives "name=" */
} s3_param;

/**
 * Append "?a=1&b=2" with the parameters sorted by name and encoded, which
 * is what libcurl 7.88 signs as the canonical query (it does not sort or
 * encode itself).  Nothing is appended for n == 0.
 */
int s3_query_build(tier_buf *out, s3_param *params, size_t n);

/* ---- the driver (s3.c, s3_request.c, s3_multipart.c, s3_list.c) --------- */

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

/* One request: what tier_s3_request() sends. */
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

static inline s3_driver *tier_s3_of(tier_driver *drv)
{
	return (s3_driver *)drv;
}

/** The object key of a tier path ("" = the tier root) into out. */
int tier_s3_key_of(s3_driver *d, tier_buf *out, const char *rel);
/** "prefix/dir/" as a listing prefix ("" for the bucket root). */
int tier_s3_dir_prefix(s3_driver *d, tier_buf *out, const char *dir);
/**
 * Run one request.  Returns 0 for a 2xx answer, else a tier code with the
 * message set: verb and shown name the operation in it.  The answer's
 * body (unless streamed), status and ETag stay in d until the next one.
 */
int tier_s3_request(s3_driver *d, const s3_req *r, const char *verb,
                    const char *shown);
/** tier_s3_request() on the object of the tier path rel (shown as rel). */
int tier_s3_object_request(s3_driver *d, s3_req *r, const char *rel,
                           const char *verb);
/** The code and message of the refusal in d->status and d->body. */
int tier_s3_http_fail(s3_driver *d, const char *verb, const char *shown);

/** The driver's stat (s3.c): a HEAD of the object. */
int tier_s3_stat(tier_driver *drv, const char *path, tier_stat *out);
/** A put above S3_SINGLE_PUT_MAX as a multipart upload (s3_multipart.c). */
int tier_s3_multipart_put(s3_driver *d, const char *path,
                          const tier_source *src, unsigned int flags);
/** The driver's list (s3_list.c): ListObjectsV2 with delimiter '/'. */
int tier_s3_list(tier_driver *drv, const char *dir, tier_list_cb cb,
                 void *payload);

/*
 * A minimal reader for the XML S3 answers with: flat elements found by
 * name, entities decoded.  Enough for ListObjectsV2, ListMultipartUploads,
 * InitiateMultipartUpload, CompleteMultipartUpload and Error bodies.
 */
typedef struct {
	const char *p, *end;
} s3_xml;

/**
 * Find the next <tag>...</tag> in [x->p, x->end) and advance past it.
 * *inner receives the raw content.  Returns 1 found, 0 not found.
 */
int s3_xml_next(s3_xml *x, const char *tag, s3_xml *inner);
/** Decoded text of the first <tag> inside x (not advancing); 1 found, 0 not. */
int s3_xml_text(const s3_xml *x, const char *tag, tier_buf *out);
/** Decode the XML entities of [p, p+n) into out. */
int s3_xml_decode(tier_buf *out, const char *p, size_t n);

/** "2024-05-01T12:34:56.000Z" (or the HTTP date form) to epoch seconds; -1 if bad. */
int64_t s3_parse_time(const char *s);

/**
 * The driver's code for an S3 answer: status and the <Code> of the error
 * body ("" when none).  0 means "not an error".  See docs/s3.md for the table.
 */
int s3_classify(long status, const char *code);

/**
 * Abort the multipart uploads under the tier prefix that were started more
 * than older_than seconds ago (the leftovers of puts that failed and could
 * not abort).  *aborted (may be NULL) receives how many.  Called once per
 * driver after the first successful ping, with S3_STALE_UPLOAD_AGE.
 */
int tier_s3_abort_stale_uploads(tier_driver *drv, int64_t older_than,
                                unsigned int *aborted);

#endif
