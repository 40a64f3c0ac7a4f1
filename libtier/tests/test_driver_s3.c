/*
 * The s3:// driver.  The first suite needs no server (URL options,
 * credentials, query order, XML, error table).  The others run against a
 * real Ceph radosgw on loopback started by ci/ceph.sh:
 *
 *   ci/ceph.sh start && eval "$(ci/ceph.sh env)" && ctest -R driver_s3
 *
 * Without TIER_TEST_S3_URL they skip.  Every test works under a fresh key
 * prefix.  The gateway is shared: tests hold a shared lock on it, the
 * outage tests (which kill radosgw) an exclusive one.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "driver/s3_impl.h"
#include "helpers.h"
#include "tier/errors.h"
#include "tier/location.h"
#include "tier/push.h"
#include "tier/restore.h"
#include "tier/sync.h"
#include "tier/vault.h"
#include "util/buf.h"

#define MiB (1024u * 1024u)

static const char *dir;
static int lock_fd = -1;
static int killed;

static void setup(void)
{
	dir = tt_tmpdir();
	cr_assert_not_null(dir);
	killed = 0;
}

static void teardown(void)
{
	const char *restart = getenv("TIER_TEST_S3_RESTART");
	/* an outage test that failed half-way must not leave the gateway down */
	if (killed && restart)
		tt_sh("%s >/dev/null 2>&1", restart);
	if (lock_fd >= 0)
		close(lock_fd);
	lock_fd = -1;
	tt_rmrf(dir);
}

/* ---- without a server --------------------------------------------------- */

TestSuite(s3_unit, .init = setup, .fini = teardown);

Test(s3_unit, query_is_sorted_encoded_and_valueless_params_get_equals)
{
	tier_buf b = TIER_BUF_INIT;
	s3_param p[4] = {{"prefix", "a b/c+d"},
	                 {"list-type", "2"},
	                 {"uploads", NULL},
	                 {"delimiter", "/"}};
	cr_assert_eq(s3_query_build(&b, p, 4), 0);
	cr_assert_str_eq(
	        b.ptr,
	        "?delimiter=%2F&list-type=2&prefix=a%20b%2Fc%2Bd&uploads=");
	tier_buf_clear(&b);
	cr_assert_eq(s3_encode(&b, "log.git/objects/pack/p~1 x", 1), 0);
	cr_assert_str_eq(b.ptr, "log.git/objects/pack/p~1%20x");
	tier_buf_dispose(&b);
}

Test(s3_unit, url_options)
{
	s3_query q;
	cr_assert_eq(
	        s3_query_parse(
	                &q,
	                "endpoint=http%3A%2F%2F127.0.0.1%3A7480&region=eu-west-3&style=virtual",
	                "s3://b/p"),
	        0);
	cr_assert_str_eq(q.endpoint, "http://127.0.0.1:7480");
	cr_assert_str_eq(q.region, "eu-west-3");
	cr_assert_eq(q.virtual_style, 1);
	s3_query_dispose(&q);
	cr_assert_eq(s3_query_parse(&q, NULL, "s3://b/p"), 0);
	cr_assert_null(q.endpoint);
	cr_assert_eq(q.virtual_style, -1);
	s3_query_dispose(&q);
	cr_assert_eq(s3_query_parse(&q, "endpont=http://x", "s3://b/p"),
	             TIER_EUSAGE);
	cr_assert(strstr(tier_error_last(), "unknown s3 option 'endpont'"),
	          "%s", tier_error_last());
	cr_assert_eq(s3_query_parse(&q, "region=a&region=b", "s3://b/p"),
	             TIER_EUSAGE);
	cr_assert_eq(s3_query_parse(&q, "style=sideways", "s3://b/p"),
	             TIER_EUSAGE);
}

Test(s3_unit, xml_listing_with_entities)
{
	static const char doc[] =
	        "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"x\"><Name>b</Name>"
	        "<KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>"
	        "<NextContinuationToken>t&amp;1</NextContinuationToken>"
	        "<Contents><Key>p/a&lt;b&#38;c&#x263A;</Key><Size>12</Size>"
	        "<LastModified>2024-05-01T12:34:56.000Z</LastModified></Contents>"
	        "<Contents><Key>p/z</Key><Size>3</Size></Contents>"
	        "<CommonPrefixes><Prefix>p/d/</Prefix></CommonPrefixes><Empty/></ListBucketResult>";
	s3_xml x = {doc, doc + sizeof(doc) - 1}, in;
	tier_buf t = TIER_BUF_INIT;
	cr_assert(s3_xml_text(&x, "NextContinuationToken", &t));
	cr_assert_str_eq(t.ptr, "t&1");
	cr_assert(s3_xml_text(&x, "IsTruncated", &t));
	cr_assert_str_eq(t.ptr, "true");
	cr_assert(s3_xml_next(&x, "Contents", &in));
	cr_assert(s3_xml_text(&in, "Key", &t));
	cr_assert_str_eq(t.ptr, "p/a<b&c\xe2\x98\xba");
	cr_assert(s3_xml_text(&in, "LastModified", &t));
	cr_assert_eq(s3_parse_time(t.ptr), 1714566896);
	cr_assert(s3_xml_next(&x, "Contents", &in));
	cr_assert(s3_xml_text(&in, "Key", &t));
	cr_assert_str_eq(t.ptr, "p/z");
	cr_assert_not(s3_xml_next(&x, "Contents", &in));
	cr_assert(s3_xml_next(&x, "Empty", &in));
	cr_assert_eq(in.p, in.end);
	cr_assert_eq(s3_parse_time("Wed, 01 May 2024 12:34:56 GMT"),
	             1714566896);
	cr_assert_eq(s3_parse_time("yesterday"), -1);
	tier_buf_dispose(&t);
}

Test(s3_unit, error_table)
{
	cr_assert_eq(s3_classify(200, ""), 0);
	cr_assert_eq(s3_classify(204, ""), 0);
	cr_assert_eq(s3_classify(403, "SignatureDoesNotMatch"), TIER_EAUTH);
	cr_assert_eq(s3_classify(403, "InvalidAccessKeyId"), TIER_EAUTH);
	cr_assert_eq(s3_classify(403, "AccessDenied"), TIER_EAUTH);
	cr_assert_eq(s3_classify(403, ""), TIER_EAUTH, "HEAD: no body");
	cr_assert_eq(s3_classify(403, "QuotaExceeded"), TIER_ENOSPC,
	             "RGW quota");
	cr_assert_eq(s3_classify(400, "EntityTooLarge"), TIER_ENOSPC);
	cr_assert_eq(s3_classify(404, "NoSuchKey"), TIER_ENOTFOUND);
	cr_assert_eq(s3_classify(404, ""), TIER_ENOTFOUND);
	cr_assert_eq(s3_classify(404, "NoSuchBucket"), TIER_EUSAGE);
	cr_assert_eq(s3_classify(412, "PreconditionFailed"), TIER_ECONFLICT);
	cr_assert_eq(s3_classify(503, "SlowDown"), TIER_EOFFLINE);
	cr_assert_eq(s3_classify(500, "InternalError"), TIER_EOFFLINE);
	cr_assert_eq(s3_classify(502, ""), TIER_EOFFLINE);
	cr_assert_eq(s3_classify(400, "RequestTimeout"), TIER_EOFFLINE);
	cr_assert_eq(s3_classify(416, "InvalidRange"), TIER_ECORRUPT);
	cr_assert_eq(s3_classify(501, "NotImplemented"), TIER_EUNSUPPORTED);
	cr_assert_eq(s3_classify(400, "InvalidArgument"), TIER_ERROR);
}

/* Environment of the credential tests, restored afterwards. */
static void clear_aws_env(void)
{
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	setenv("HOME", dir, 1);
}

Test(s3_unit, credentials_url_then_environment_then_file)
{
	s3_creds c;
	clear_aws_env();
	cr_assert_eq(s3_creds_find(&c, "URLKEY", "urlsecret", "s3://b/p"), 0);
	cr_assert_str_eq(c.key_id, "URLKEY");
	cr_assert_str_eq(c.from, "url");
	s3_creds_dispose(&c);

	cr_assert_eq(s3_creds_find(&c, NULL, NULL, "s3://b/p"), TIER_EUSAGE);
	cr_assert(strstr(tier_error_last(), "no credentials for tier s3://b/p"),
	          "%s", tier_error_last());

	tt_sh("mkdir -p %s/.aws && printf '# c\\n[other]\\naws_access_key_id = OTHERKEY\\n"
	      "aws_secret_access_key = othersecret\\n\\n[default]\\n"
	      "aws_access_key_id=FILEKEY\\naws_secret_access_key = filesecret \\n' > %s/.aws/credentials",
	      dir, dir);
	cr_assert_eq(s3_creds_find(&c, NULL, NULL, "s3://b/p"), 0, "%s",
	             tier_error_last());
	cr_assert_str_eq(c.key_id, "FILEKEY");
	cr_assert_str_eq(c.secret, "filesecret");
	s3_creds_dispose(&c);
	setenv("AWS_PROFILE", "other", 1);
	cr_assert_eq(s3_creds_find(&c, NULL, NULL, "s3://b/p"), 0);
	cr_assert_str_eq(c.key_id, "OTHERKEY");
	s3_creds_dispose(&c);
	setenv("AWS_PROFILE", "nosuch", 1);
	cr_assert_eq(s3_creds_find(&c, NULL, NULL, "s3://b/p"), TIER_EUSAGE);
	cr_assert(strstr(tier_error_last(), "[nosuch]"), "%s",
	          tier_error_last());

	setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
	cr_assert_eq(s3_creds_find(&c, NULL, NULL, "s3://b/p"), 0);
	cr_assert_str_eq(c.key_id, "ENVKEY");
	s3_creds_dispose(&c);
	unsetenv("AWS_SECRET_ACCESS_KEY");
	cr_assert_eq(s3_creds_find(&c, NULL, NULL, "s3://b/p"), TIER_EUSAGE);
	cr_assert_null(strstr(tier_error_last(), "envsecret"));
	cr_assert_eq(s3_creds_find(&c, "K", NULL, "s3://b/p"), TIER_EUSAGE,
	             "key id, no secret");
}

Test(s3_unit, open_checks_the_url_and_never_shows_the_secret)
{
	tier_location *loc = NULL;
	clear_aws_env();
	cr_assert_eq(
	        tier_location_open(
	                &loc,
	                "s3://K:SeCrEt0123@bucket/p?endpoint=http://127.0.0.1:1&colour=red",
	                NULL),
	        TIER_EUSAGE);
	cr_assert(strstr(tier_error_last(), "colour"), "%s", tier_error_last());
	cr_assert_null(strstr(tier_error_last(), "SeCrEt0123"), "%s",
	               tier_error_last());
	cr_assert_eq(tier_location_open(&loc,
	                                "s3://bu/p?endpoint=http://127.0.0.1:1",
	                                NULL),
	             TIER_EUSAGE, "bucket name too short");
	cr_assert_eq(
	        tier_location_open(
	                &loc, "s3://bucket/p?endpoint=ftp://127.0.0.1:1", NULL),
	        TIER_EUSAGE);
	cr_assert_eq(tier_location_open(
	                     &loc, "s3://bucket/p?endpoint=http://127.0.0.1:1",
	                     NULL),
	             TIER_EUSAGE, "no credentials anywhere");

	/* a store that is away: offline, after the retries */
	tier_location_options o = TIER_LOCATION_OPTIONS_INIT;
	o.retries = 3;
	o.retry_delay = 1;
	cr_assert_eq(
	        tier_location_open(
	                &loc,
	                "s3://K:SeCrEt0123@bucket/p?endpoint=http://127.0.0.1:1",
	                &o),
	        0, "%s", tier_error_last());
	cr_assert_eq(tier_location_caps(loc), TIER_DRIVER_CAP_EXCLUSIVE);
	cr_assert_eq(tier_location_ping(loc), TIER_EOFFLINE);
	cr_assert_eq(tier_location_attempts(loc), 3);
	cr_assert_null(strstr(tier_error_last(), "SeCrEt0123"), "%s",
	               tier_error_last());
	tier_location_reset(loc);
	cr_assert_eq(tier_location_mkdir_p(loc, "a/b"), 0,
	             "no directories to make");
	cr_assert_eq(tier_location_rename(loc, "a", "b"), TIER_EUNSUPPORTED);
	tier_location_free(loc);
}

/* ---- against radosgw ---------------------------------------------------- */

TestSuite(s3, .init = setup, .fini = teardown);

static void need_server(int exclusive)
{
	const char *d = getenv("TIER_CEPH_DIR");
	if (!getenv("TIER_TEST_S3_URL") || !*getenv("TIER_TEST_S3_URL"))
		cr_skip_test(
		        "s3 server not configured: run ci/ceph.sh start and "
		        "eval \"$(ci/ceph.sh env)\"");
	lock_fd = open(tt_path("%s/tests.lock", d && *d ? d : "/tmp"),
	               O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	cr_assert_geq(lock_fd, 0);
	cr_assert_eq(flock(lock_fd, exclusive ? LOCK_EX : LOCK_SH), 0);
}

/* The test URL with "/<sub>" added to its prefix (before the query). */
static char *url_sub(const char *sub)
{
	const char *url = getenv("TIER_TEST_S3_URL");
	const char *q = strchr(url, '?');
	tier_buf b = TIER_BUF_INIT;
	tier_buf_put(&b, url, q ? (size_t)(q - url) : strlen(url));
	tier_buf_printf(&b, "/%s", sub);
	if (q)
		tier_buf_puts(&b, q);
	return tier_buf_detach(&b);
}

/* A fresh prefix for this test. */
static char *fresh_url(void)
{
	struct timespec ts;
	char sub[64];
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(sub, sizeof(sub), "t%ld-%ld-%d", (long)ts.tv_sec, ts.tv_nsec,
	         (int)getpid());
	return url_sub(sub);
}

static tier_location_options fast_opts(void)
{
	tier_location_options o = TIER_LOCATION_OPTIONS_INIT;
	o.retries = 3;
	o.retry_delay = 1;
	o.timeout = 10;
	return o;
}

static tier_location *open_loc(const char *url)
{
	tier_location_options o = fast_opts();
	tier_location *loc = NULL;
	/* tier_driver_s3_open is named so that a static link keeps the driver */
	cr_assert_not_null((void *)&tier_driver_s3_open);
	cr_assert_eq(tier_location_open(&loc, url, &o), 0, "%s",
	             tier_error_last());
	return loc;
}

static char *get_str(tier_location *loc, const char *path, int *rc)
{
	char *out = NULL;
	size_t n = 0;
	*rc = tier_location_get_all(loc, path, &out, &n, 1 << 20);
	return out;
}

static int no_names(const char *name, const tier_stat *st, void *payload)
{
	(void)name;
	(void)st;
	(void)payload;
	return 0;
}

static int buf_sink(const void *data, size_t len, void *payload)
{
	return tier_buf_put(payload, data, len) < 0;
}

static int stop_sink(const void *data, size_t len, void *payload)
{
	(void)data;
	(void)len;
	(void)payload;
	return 1;
}

static char *get_range(tier_location *loc, const char *path, uint64_t off,
                       uint64_t len, int *rc)
{
	tier_buf b = TIER_BUF_INIT;
	*rc = tier_location_get(loc, path, off, len, buf_sink, &b);
	return tier_buf_detach(&b);
}

Test(s3, round_trip_ranged_get_replace_stat_remove)
{
	need_server(0);
	char *url = fresh_url();
	tier_location *loc = open_loc(url);
	tier_stat st;
	int rc;
	char *s;

	cr_assert_eq(tier_location_ping(loc), 0, "%s", tier_error_last());
	cr_assert_eq(
	        tier_location_put_mem(loc, "d1/d2/a.txt", "hello world", 11, 0),
	        0, "%s", tier_error_last());
	s = get_str(loc, "d1/d2/a.txt", &rc);
	cr_assert_eq(rc, 0, "%s", tier_error_last());
	cr_assert_str_eq(s, "hello world");
	free(s);
	s = get_range(loc, "d1/d2/a.txt", 6, 3, &rc);
	cr_assert_eq(rc, 0, "%s", tier_error_last());
	cr_assert_str_eq(s, "wor");
	free(s);
	s = get_range(loc, "d1/d2/a.txt", 6, UINT64_MAX, &rc);
	cr_assert_eq(rc, 0, "%s", tier_error_last());
	cr_assert_str_eq(s, "world");
	free(s);
	s = get_range(loc, "d1/d2/a.txt", 11, UINT64_MAX, &rc);
	cr_assert_eq(rc, 0, "offset at the end: nothing, no error: %s",
	             tier_error_last());
	cr_assert_str_eq(s, "");
	free(s);
	s = get_range(loc, "d1/d2/a.txt", 8, 10, &rc);
	cr_assert_eq(rc, TIER_ECORRUPT, "range beyond the end");
	free(s);
	s = get_range(loc, "d1/d2/a.txt", 20, 5, &rc);
	cr_assert_eq(rc, TIER_ECORRUPT, "range after the end");
	free(s);

	/* a receiver that stops the get; the next call is not affected */
	cr_assert_eq(tier_location_get(loc, "d1/d2/a.txt", 0, UINT64_MAX,
	                               stop_sink, NULL),
	             TIER_EABORTED);
	cr_assert_eq(tier_location_stat(loc, "d1/d2/a.txt", &st), 0, "%s",
	             tier_error_last());
	cr_assert_eq(st.size, 11);
	cr_assert_eq(st.is_dir, 0);
	cr_assert(st.mtime > time(NULL) - 3600 * 24 * 365 * 10, "mtime %lld",
	          (long long)st.mtime);
	cr_assert_eq(tier_location_stat(loc, "", &st), 0);
	cr_assert_eq(st.is_dir, 1);

	/* replace: one PUT, readers see old or new */
	cr_assert_eq(tier_location_put_mem(loc, "d1/d2/a.txt", "bye", 3, 0), 0);
	s = get_str(loc, "d1/d2/a.txt", &rc);
	cr_assert_str_eq(s, "bye");
	free(s);
	cr_assert_eq(tier_location_put_mem(loc, "empty", "", 0, 0), 0);
	s = get_str(loc, "empty", &rc);
	cr_assert_eq(rc, 0);
	cr_assert_str_eq(s, "");
	free(s);

	cr_assert_eq(tier_location_remove(loc, "d1/d2/a.txt"), 0, "%s",
	             tier_error_last());
	cr_assert_eq(tier_location_stat(loc, "d1/d2/a.txt", &st),
	             TIER_ENOTFOUND);
	cr_assert_eq(tier_location_remove(loc, "d1/d2/a.txt"), TIER_ENOTFOUND);
	cr_assert_eq(tier_location_remove(loc, "empty"), 0);
	cr_assert_eq(tier_location_attempts(loc) > 0, 1);
	tier_location_free(loc);
	free(url);
}

Test(s3, missing_key_and_missing_directory)
{
	need_server(0);
	char *url = fresh_url();
	tier_location *loc = open_loc(url);
	tier_stat st;
	int rc;
	char *s = get_range(loc, "no/such/key", 0, UINT64_MAX, &rc);
	cr_assert_eq(rc, TIER_ENOTFOUND, "%s", tier_error_last());
	cr_assert(strstr(tier_error_last(), "no/such/key"), "%s",
	          tier_error_last());
	free(s);
	cr_assert_eq(tier_location_stat(loc, "no/such/key", &st),
	             TIER_ENOTFOUND);
	cr_assert_eq(tier_location_list(loc, "no/such", no_names, NULL),
	             TIER_ENOTFOUND);
	cr_assert_eq(tier_location_attempts(loc), 3,
	             "not found is not retried");
	tier_location_free(loc);
	free(url);
}

Test(s3, exclusive_put_conflicts)
{
	need_server(0);
	char *url = fresh_url();
	tier_location *loc = open_loc(url);
	int rc;
	cr_assert_eq(tier_location_put_mem(loc, "lock", "one", 3,
	                                   TIER_PUT_EXCLUSIVE),
	             0, "%s", tier_error_last());
	cr_assert_eq(tier_location_put_mem(loc, "lock", "two", 3,
	                                   TIER_PUT_EXCLUSIVE),
	             TIER_ECONFLICT, "%s", tier_error_last());
	cr_assert(strstr(tier_error_last(), "'lock'"), "%s", tier_error_last());
	char *s = get_str(loc, "lock", &rc);
	cr_assert_str_eq(s, "one");
	free(s);
	tier_location_free(loc);
	free(url);
}

struct names {
	tier_buf text;
	int dirs;
};

static int collect(const char *name, const tier_stat *st, void *payload)
{
	struct names *n = payload;
	tier_buf_printf(&n->text, "%s%s%s,", name, st->is_dir ? "/" : "",
	                !st->is_dir && st->size != 1 ? "?" : "");
	n->dirs += st->is_dir;
	return 0;
}

Test(s3, list_paginates_and_shows_prefixes_as_directories)
{
	need_server(0);
	char *url = fresh_url();
	tier_location *loc;
	struct names n = {TIER_BUF_INIT, 0};
	tier_buf want = TIER_BUF_INIT;

	setenv("TIER_TEST_S3_MAX_KEYS", "7", 1);
	loc = open_loc(url);
	unsetenv("TIER_TEST_S3_MAX_KEYS");
	for (int i = 0; i < 30; i++) {
		char name[32];
		snprintf(name, sizeof(name), "data/k%02d", i);
		cr_assert_eq(tier_location_put_mem(loc, name, "x", 1, 0), 0,
		             "%s", tier_error_last());
	}
	cr_assert_eq(tier_location_put_mem(loc, "data/sub/deep", "x", 1, 0), 0);
	cr_assert_eq(tier_location_put_mem(loc, "datax", "x", 1, 0), 0);
	cr_assert_eq(tier_location_list(loc, "data", collect, &n), 0, "%s",
	             tier_error_last());
	for (int i = 0; i < 30; i++)
		tier_buf_printf(&want, "k%02d,", i);
	tier_buf_puts(&want, "sub/,");
	cr_assert_str_eq(n.text.ptr, want.ptr, "5 pages of 7");
	cr_assert_eq(n.dirs, 1);

	tier_buf_clear(&n.text);
	cr_assert_eq(tier_location_list(loc, "", collect, &n), 0, "%s",
	             tier_error_last());
	cr_assert_str_eq(n.text.ptr, "data/,datax,");
	tier_buf_dispose(&n.text);
	tier_buf_dispose(&want);
	tier_location_free(loc);
	free(url);
}

/* Deterministic bytes: a tiny xorshift, so that a wrong offset shows. */
static void fill(unsigned char *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	for (size_t i = 0; i < n; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		for (size_t k = 0; k < 8 && i + k < n; k++)
			p[i + k] = (unsigned char)(x >> (8 * k));
	}
}

struct cmp_sink {
	const unsigned char *want;
	size_t len, pos;
	int bad;
	/* outage test */
	size_t kill_at;
	int do_kill;
};

static int cmp_sink(const void *data, size_t len, void *payload)
{
	struct cmp_sink *c = payload;
	if (c->pos + len > c->len || memcmp(c->want + c->pos, data, len))
		c->bad = 1;
	c->pos += len;
	if (c->do_kill && c->pos >= c->kill_at) {
		c->do_kill = 0;
		killed = 1;
		cr_assert_eq(tt_sh("%s", getenv("TIER_TEST_S3_KILL")), 0);
	}
	return 0;
}

Test(s3, multipart_put_of_70_mib)
{
	need_server(0);
	const size_t n = 70 * MiB;
	unsigned char *data = malloc(n);
	char *url = fresh_url();
	tier_location *loc = open_loc(url);
	const char *file = tt_path("%s/big.bin", dir);
	tier_stat st;
	unsigned int aborted = 99;

	cr_assert_not_null(data);
	fill(data, n, 70);
	cr_assert_eq(tt_write_file(file, data, n), 0);
	int fd = open(file, O_RDONLY);
	cr_assert_geq(fd, 0);
	tier_source src = {NULL, fd, n, NULL};
	cr_assert_eq(tier_location_put(loc, "data/big", &src, 0), 0, "%s",
	             tier_error_last());
	close(fd);
	cr_assert_eq(tier_location_stat(loc, "data/big", &st), 0);
	cr_assert_eq(st.size, n);

	struct cmp_sink c = {data, n, 0, 0, 0, 0};
	cr_assert_eq(
	        tier_location_get(loc, "data/big", 0, UINT64_MAX, cmp_sink, &c),
	        0, "%s", tier_error_last());
	cr_assert_eq(c.pos, n);
	cr_assert_eq(c.bad, 0, "bytes differ");
	/* a range across the 16 MiB part boundary */
	struct cmp_sink r = {data + 16 * MiB - 100, 200, 0, 0, 0, 0};
	cr_assert_eq(tier_location_get(loc, "data/big", 16 * MiB - 100, 200,
	                               cmp_sink, &r),
	             0);
	cr_assert_eq(r.pos, 200);
	cr_assert_eq(r.bad, 0);

	/* exclusive multipart onto an existing key */
	src.fd = -1;
	src.data = data;
	cr_assert_eq(
	        tier_location_put(loc, "data/big", &src, TIER_PUT_EXCLUSIVE),
	        TIER_ECONFLICT);

	/* nothing left behind by the completed upload */
	tier_driver *drv = NULL;
	tier_url *u = NULL;
	cr_assert_eq(tier_url_parse(&u, url), 0);
	cr_assert_eq(tier_driver_s3_open(&drv, u, NULL), 0, "%s",
	             tier_error_last());
	cr_assert_eq(tier_s3_abort_stale_uploads(drv, 0, &aborted), 0, "%s",
	             tier_error_last());
	cr_assert_eq(aborted, 0);
	drv->free(drv);
	tier_url_free(u);

	cr_assert_eq(tier_location_remove(loc, "data/big"), 0);
	tier_location_free(loc);
	free(url);
	free(data);
}

Test(s3, stale_multipart_uploads_are_aborted)
{
	need_server(0);
	char *url = fresh_url();
	tier_url *u = NULL;
	tier_driver *drv = NULL;
	unsigned int aborted = 99;
	const char *ep = getenv("TIER_TEST_S3_ENDPOINT");
	cr_assert_not_null(ep);
	cr_assert_eq(tier_url_parse(&u, url), 0);

	/* an upload started and abandoned (as by a process killed mid-put) */
	cr_assert_eq(
	        tt_sh("curl -sSf -o /dev/null --aws-sigv4 aws:amz:us-east-1:s3 "
	              "--user \"$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY\" "
	              "-H x-amz-content-sha256:UNSIGNED-PAYLOAD -X POST '%s/%s%s/left.bin?uploads='",
	              ep, u->host, u->path),
	        0);
	cr_assert_eq(tier_driver_s3_open(&drv, u, NULL), 0, "%s",
	             tier_error_last());
	cr_assert_eq(
	        tier_s3_abort_stale_uploads(drv, S3_STALE_UPLOAD_AGE, &aborted),
	        0, "%s", tier_error_last());
	cr_assert_eq(aborted, 0, "a fresh upload may still be running");
	cr_assert_eq(tier_s3_abort_stale_uploads(drv, 0, &aborted), 0, "%s",
	             tier_error_last());
	cr_assert_eq(aborted, 1);
	cr_assert_eq(tier_s3_abort_stale_uploads(drv, 0, &aborted), 0);
	cr_assert_eq(aborted, 0, "gone");
	drv->free(drv);
	tier_url_free(u);
	free(url);
}

/* The test URL with the credentials in it replaced. */
static char *url_with_creds(const char *key, const char *secret)
{
	char *url = fresh_url();
	tier_buf b = TIER_BUF_INIT;
	tier_buf_printf(&b, "s3://%s:%s@%s", key, secret, url + 5);
	free(url);
	return tier_buf_detach(&b);
}

Test(s3, wrong_secret_fails_at_once)
{
	need_server(0);
	char *url =
	        url_with_creds(getenv("AWS_ACCESS_KEY_ID"), "NotTheSecret0xyz");
	tier_location *loc = open_loc(url);
	int rc;
	char *s = get_range(loc, "any", 0, UINT64_MAX, &rc);
	cr_assert_eq(rc, TIER_EAUTH, "%s", tier_error_last());
	cr_assert_eq(tier_location_attempts(loc), 1, "permanent: one attempt");
	cr_assert(strstr(tier_error_last(),
	                 "the store refused the credentials for key id"),
	          "%s", tier_error_last());
	cr_assert(strstr(tier_error_last(), getenv("AWS_ACCESS_KEY_ID")), "%s",
	          tier_error_last());
	cr_assert(strstr(tier_error_last(), "(wrong secret?)"), "%s",
	          tier_error_last());
	cr_assert_null(strstr(tier_error_last(), "NotTheSecret0xyz"), "%s",
	               tier_error_last());
	cr_assert_eq(tier_location_put_mem(loc, "x", "x", 1, 0), TIER_EAUTH);
	cr_assert_eq(tier_location_ping(loc), TIER_EAUTH);
	free(s);
	tier_location_free(loc);
	free(url);

	url = url_with_creds("NOSUCHKEYID", "NotTheSecret0xyz");
	loc = open_loc(url);
	cr_assert_eq(tier_location_ping(loc), TIER_EAUTH);
	cr_assert(strstr(tier_error_last(), "'NOSUCHKEYID'"), "%s",
	          tier_error_last());
	tier_location_free(loc);
	free(url);
}

Test(s3, missing_bucket_is_a_usage_error)
{
	need_server(0);
	char *good = fresh_url();
	tier_buf b = TIER_BUF_INIT;
	/* s3://tierbucket/... -> s3://nosuchbucket-tier/... */
	tier_buf_printf(&b, "s3://nosuchbucket-tier%s", strchr(good + 5, '/'));
	tier_location *loc = open_loc(b.ptr);
	cr_assert_eq(tier_location_ping(loc), TIER_EUSAGE, "%s",
	             tier_error_last());
	cr_assert(strstr(tier_error_last(),
	                 "bucket 'nosuchbucket-tier' does not exist"),
	          "%s", tier_error_last());
	cr_assert_eq(tier_location_attempts(loc), 1);
	tier_location_free(loc);
	tier_buf_dispose(&b);
	free(good);
}

/* Sleep hook of the outage test: the first retry brings radosgw back. */
static int restart_on_sleep(unsigned int ms, void *payload)
{
	int *restarts = payload;
	(void)ms;
	if (killed && *restarts == 0) {
		(*restarts)++;
		if (tt_sh("%s", getenv("TIER_TEST_S3_RESTART")) != 0)
			return 1;
		killed = 0;
	}
	return 0;
}

Test(s3, radosgw_killed_mid_get_and_restarted)
{
	need_server(1);
	const size_t n = 60 * MiB;
	unsigned char *data = malloc(n);
	char *url = fresh_url();
	tier_location_options o = fast_opts();
	tier_location *loc = NULL;
	int restarts = 0;

	cr_assert_not_null(data);
	fill(data, n, 60);
	o.retries = 10;
	o.sleep = restart_on_sleep;
	o.payload = &restarts;
	cr_assert_not_null((void *)&tier_driver_s3_open);
	cr_assert_eq(tier_location_open(&loc, url, &o), 0, "%s",
	             tier_error_last());
	cr_assert_eq(tier_location_put_mem(loc, "data/outage", data, n, 0), 0,
	             "%s", tier_error_last());
	uint64_t before = tier_location_attempts(loc);

	struct cmp_sink c = {data, n, 0, 0, 4 * MiB, 1};
	cr_assert_eq(tier_location_get(loc, "data/outage", 0, UINT64_MAX,
	                               cmp_sink, &c),
	             0, "%s", tier_error_last());
	cr_assert_eq(restarts, 1, "radosgw was killed and restarted");
	cr_assert(tier_location_attempts(loc) - before >= 2,
	          "the get was retried");
	cr_assert_eq(c.pos, n);
	cr_assert_eq(c.bad, 0, "the resumed get delivered the right bytes");
	cr_assert_eq(tier_location_remove(loc, "data/outage"), 0, "%s",
	             tier_error_last());
	tier_location_free(loc);
	free(url);
	free(data);
}

/* ---- the library end to end: a file tier and an s3 tier ---------------- */

static tier_vault_options vault_opts(const char **tiers, size_t n,
                                     const char *state)
{
	tier_vault_options o = TIER_VAULT_OPTIONS_INIT;
	o.state_dir = state;
	o.tiers = tiers;
	o.ntiers = n;
	o.location.retries = 2;
	o.location.retry_delay = 1;
	o.location.timeout = 10;
	o.wait_timeout_ms = 0;
	return o;
}

static tier_write_outcome push_tree(tier_vault *v, const char *path,
                                    tier_write_outcome *s3)
{
	const char *paths[1] = {path};
	tier_push_options po = TIER_PUSH_OPTIONS_INIT;
	tier_write_result *r = NULL;
	tier_write_outcome file = TIER_WRITE_FAILED;
	po.paths = paths;
	po.npaths = 1;
	cr_assert_eq(tier_push_run(&r, NULL, v, &po), 0, "push: %s",
	             tier_error_last());
	cr_assert_eq(r->ntiers, 2);
	for (size_t i = 0; i < r->ntiers; i++) {
		if (!strcmp(r->tiers[i].name, "local"))
			file = r->tiers[i].outcome;
		else
			*s3 = r->tiers[i].outcome;
	}
	tier_write_result_free(r);
	return file;
}

Test(s3, push_offline_sync_and_restore_from_s3_alone)
{
	need_server(1);
	char *s3url = fresh_url();
	tier_buf s3spec = TIER_BUF_INIT, filespec = TIER_BUF_INIT;
	const char *state = tt_path("%s/state", dir);
	char src[4200], dest[4200];
	tier_vault *v = NULL;
	tier_write_outcome s3 = TIER_WRITE_FAILED;

	cr_assert_not_null((void *)&tier_driver_s3_open);
	snprintf(src, sizeof(src), "%s/src", dir);
	snprintf(dest, sizeof(dest), "%s/dest", dir);
	tier_buf_printf(&filespec, "local=file://%s/local", dir);
	tier_buf_printf(&s3spec, "s3=%s", s3url);
	const char *tiers[2] = {filespec.ptr, s3spec.ptr};
	cr_assert_eq(
	        tt_sh("mkdir -p %s/sub && cd %s && printf hello > small.txt && "
	              "head -c 3000000 /dev/urandom > sub/random.bin && "
	              "yes 'a line' | head -c 500000 > sub/text.txt && ln -s small.txt link",
	              src, src),
	        0);

	tier_vault_options o = vault_opts(tiers, 2, state);
	cr_assert_eq(tier_vault_init(&v, &o), 0, "init: %s", tier_error_last());
	cr_assert_eq(push_tree(v, src, &s3), TIER_WRITE_WRITTEN);
	cr_assert_eq(s3, TIER_WRITE_WRITTEN);
	tier_vault_free(v);

	/* the store goes away: the push lands on the file tier alone */
	cr_assert_eq(tt_sh("%s", getenv("TIER_TEST_S3_KILL")), 0);
	killed = 1;
	cr_assert_eq(
	        tt_sh("cd %s && printf again > second.txt && printf changed > small.txt",
	              src),
	        0);
	v = NULL;
	cr_assert_eq(tier_vault_open(&v, &o), 0, "open: %s", tier_error_last());
	cr_assert_eq(push_tree(v, src, &s3), TIER_WRITE_WRITTEN);
	cr_assert_eq(s3, TIER_WRITE_SKIPPED_OFFLINE);
	uint64_t max = tier_vault_max_revision(v);
	tier_vault_free(v);

	/* back: sync brings it level */
	cr_assert_eq(tt_sh("%s", getenv("TIER_TEST_S3_RESTART")), 0);
	killed = 0;
	v = NULL;
	cr_assert_eq(tier_vault_open(&v, &o), 0, "open: %s", tier_error_last());
	tier_sync_options so = TIER_SYNC_OPTIONS_INIT;
	tier_sync_stats ss;
	cr_assert_eq(tier_sync_run(&ss, v, &so), 0, "sync: %s",
	             tier_error_last());
	cr_assert_eq(tier_vault_probe(v), 0, "%s", tier_error_last());
	const tier_info *a = tier_vault_tier_info(v, 0),
	                *b = tier_vault_tier_info(v, 1);
	cr_assert_eq(a->revision, max);
	cr_assert_eq(b->revision, max, "s3 tier level after sync");
	cr_assert_str_eq(a->head, b->head);
	cr_assert(b->synchronized);
	tier_vault_free(v);

	/* another desktop: no installation, only the s3 tier */
	const char *only[1] = {s3spec.ptr};
	tier_vault_options ro = vault_opts(only, 1, NULL);
	v = NULL;
	cr_assert_eq(tier_vault_open(&v, &ro), 0, "open s3 alone: %s",
	             tier_error_last());
	tier_restore_options rst = TIER_RESTORE_OPTIONS_INIT;
	tier_restore_stats rs;
	rst.dest = dest;
	cr_assert_eq(tier_restore_run(&rs, v, &rst), 0, "restore: %s",
	             tier_error_last());
	cr_assert_eq(rs.revision, max);
	cr_assert_eq(tt_sh("diff -r --no-dereference %s %s%s", src, dest, src),
	             0, "restored tree equals the source");
	tier_vault_free(v);
	tier_buf_dispose(&s3spec);
	tier_buf_dispose(&filespec);
	free(s3url);
}
