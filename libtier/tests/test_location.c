/*
 * The reconnect layer of tier_location (SPEC R1), driven through a fake
 * driver that counts calls and fails on a schedule.
 *
 * url.c knows only the real schemes, so the fake takes over "ftp" (the
 * registry replaces a driver; Criterion runs each test in its own
 * process, so no other test sees it).
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/redact.h"
#include "helpers.h"
#include "tier/sys/driver.h"
#include "util/error.h"

#define SPEC     "fk=ftp://user:secret@host/x"
#define MAXCALLS 64

static struct {
	int calls;
	int fail_n;           /* calls 1..fail_n fail ... */
	int fail_code;        /* ... with this code ... */
	const char *fail_msg; /* ... and this message */
	/* get: the object "obj"; a failing get delivers up to chunk bytes first */
	char object[256];
	size_t object_len;
	size_t chunk;
	uint64_t get_off[MAXCALLS], get_len[MAXCALLS];
	int ngets;
	/* put */
	char stored[256];
	size_t stored_len;
	int frees;
} fk;

static int fail(void)
{
	return tier_error_set(fk.fail_code, "%s",
	                      fk.fail_msg ? fk.fail_msg
	                                  : "connection to 'host' refused");
}

static int failing(void)
{
	return ++fk.calls <= fk.fail_n;
}

static int fk_ping(tier_driver *d)
{
	return failing() ? fail() : 0;
}

static int fk_stat(tier_driver *d, const char *path, tier_stat *out)
{
	if (failing())
		return fail();
	out->size = fk.object_len;
	out->mtime = 0;
	out->is_dir = 0;
	return 0;
}

static int fk_get(tier_driver *d, const char *path, uint64_t off, uint64_t len,
                  tier_sink_cb sink, void *payload)
{
	int f = failing();
	if (fk.ngets < MAXCALLS) {
		fk.get_off[fk.ngets] = off;
		fk.get_len[fk.ngets] = len;
	}
	fk.ngets++;
	if (strcmp(path, "obj"))
		return tier_error_set(TIER_ENOTFOUND, "no object '%s'", path);
	if (f && !fk.chunk)
		return fail();
	if (off > fk.object_len)
		off = fk.object_len;
	uint64_t avail = fk.object_len - off;
	if (len < avail)
		avail = len;
	if (f && fk.chunk < avail)
		avail = fk.chunk;
	/* in pieces of 7, like a network read loop */
	for (uint64_t done = 0; done < avail;) {
		size_t n = avail - done < 7 ? (size_t)(avail - done) : 7;
		if (sink(fk.object + off + done, n, payload))
			return tier_error_set(TIER_EABORTED, "get aborted");
		done += n;
	}
	return f ? fail() : 0;
}

static int fk_put(tier_driver *d, const char *path, const tier_source *src,
                  unsigned int flags)
{
	if (failing())
		return fail();
	cr_assert_not_null(src->data);
	cr_assert_leq(src->size, sizeof(fk.stored));
	memcpy(fk.stored, src->data, src->size);
	fk.stored_len = src->size;
	return 0;
}

static int fk_list(tier_driver *d, const char *dir, tier_list_cb cb,
                   void *payload)
{
	static const char *const names[] = {"a", "b", "c"};
	tier_stat st = {1, 0, 0};
	int f = failing();
	/* a failing listing is cut short after two names */
	for (int i = 0; i < (f ? 2 : 3); i++)
		if (cb(names[i], &st, payload))
			return tier_error_set(TIER_EABORTED, "list aborted");
	return f ? fail() : 0;
}

static int fk_remove(tier_driver *d, const char *path)
{
	return failing() ? fail() : 0;
}

static int fk_mkdir_p(tier_driver *d, const char *path)
{
	return failing() ? fail() : 0;
}

static void fk_free(tier_driver *d)
{
	fk.frees++;
}

static tier_driver fk_driver = {
        TIER_DRIVER_VERSION,
        TIER_DRIVER_CAP_DIRS,
        fk_ping,
        fk_stat,
        fk_get,
        fk_put,
        NULL /* rename: to test "cannot" */,
        fk_list,
        fk_remove,
        fk_mkdir_p,
        fk_free,
};

static int fk_open(tier_driver **out, const tier_url *url,
                   const tier_location_options *opts)
{
	*out = &fk_driver;
	return 0;
}

/* Fake clock: records the back-off asked for, never sleeps. */
static struct {
	unsigned int ms[MAXCALLS];
	int n;
	int cancel_at;
	char lines[32][1024];
	int nlines;
} clk;

static int fake_sleep(unsigned int ms, void *payload)
{
	cr_assert_eq(payload, &clk);
	if (clk.n < MAXCALLS)
		clk.ms[clk.n] = ms;
	clk.n++;
	return clk.cancel_at && clk.n == clk.cancel_at;
}

static void rec_trace(const char *line, void *payload)
{
	if (clk.nlines < 32)
		snprintf(clk.lines[clk.nlines], sizeof(clk.lines[0]), "%s",
		         line);
	clk.nlines++;
}

static tier_location_options fast_opts(void)
{
	tier_location_options o = TIER_LOCATION_OPTIONS_INIT;
	o.sleep = fake_sleep;
	o.trace = rec_trace;
	o.payload = &clk;
	return o;
}

static tier_location *open_fake(const tier_location_options *opts)
{
	tier_location *loc = NULL;
	memset(&fk, 0, sizeof(fk));
	memset(&clk, 0, sizeof(clk));
	fk.fail_code = TIER_EOFFLINE;
	for (size_t i = 0; i < sizeof(fk.object); i++)
		fk.object[i] = (char)('A' + i % 26 + (i / 26) % 2 * 32);
	fk.object_len = 100;
	cr_assert_eq(tier_driver_register("ftp", fk_open), 0);
	int rc = tier_location_open(&loc, SPEC, opts);
	cr_assert_eq(rc, 0, "open: %s", tier_error_last());
	cr_assert_eq(fk.calls, 0, "open must not contact the tier");
	return loc;
}

static tier_location *offline_fake(void)
{
	tier_location_options o = fast_opts();
	tier_location *loc = open_fake(&o);
	fk.fail_n = 1000;
	cr_assert_eq(tier_location_ping(loc), TIER_EOFFLINE);
	cr_assert(tier_location_is_offline(loc));
	return loc;
}

Test(location, default_ten_attempts_then_offline)
{
	tier_location_options o = fast_opts();
	tier_location *loc = open_fake(&o);
	fk.fail_n = 1000;
	int rc = tier_location_stat(loc, "data/obj", &(tier_stat){0});
	cr_assert_eq(rc, TIER_EOFFLINE);
	cr_assert_eq(fk.calls, 10, "made %d calls", fk.calls);
	cr_assert_eq(tier_location_attempts(loc), 10u);
	cr_assert_eq(clk.n, 9, "one back-off between attempts");
	cr_assert(tier_location_is_offline(loc));
	const char *m = tier_error_last();
	cr_assert(strstr(m, "tier 'fk' ("), "%s", m);
	cr_assert(
	        strstr(m,
	               ") offline after 10 attempts: connection to 'host' refused"),
	        "%s", m);
	cr_assert_eq(tier_error_last_code(), TIER_EOFFLINE);
	tier_location_free(loc);
	cr_assert_eq(fk.frees, 1);
}

Test(location, permanent_errors_are_not_retried)
{
	int codes[] = {TIER_EAUTH, TIER_ECORRUPT, TIER_ENOSPC, TIER_ENOTFOUND};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		tier_location_options o = fast_opts();
		tier_location *loc = open_fake(&o);
		fk.fail_n = 1000;
		fk.fail_code = codes[i];
		fk.fail_msg = "permanent trouble";
		int rc = tier_location_put_mem(loc, "a/b", "xy", 2, 0);
		cr_assert_eq(rc, codes[i]);
		cr_assert_eq(fk.calls, 1, "%s retried: %d calls",
		             tier_error_name(codes[i]), fk.calls);
		cr_assert_eq(clk.n, 0);
		cr_assert_not(tier_location_is_offline(loc));
		cr_assert_str_eq(tier_error_last(),
		                 "tier 'fk': permanent trouble");
		/* and the tier stays usable */
		fk.fail_n = 0;
		cr_assert_eq(tier_location_ping(loc), 0);
		tier_location_free(loc);
	}
}

Test(location, success_on_attempt_k)
{
	tier_location_options o = fast_opts();
	tier_location *loc = open_fake(&o);
	fk.fail_n = 3;
	cr_assert_eq(tier_location_put_mem(loc, "a/b", "hello", 5, 0), 0);
	cr_assert_eq(fk.calls, 4);
	cr_assert_not(tier_location_is_offline(loc));
	cr_assert_eq(fk.stored_len, 5u);
	cr_assert_eq(memcmp(fk.stored, "hello", 5), 0,
	             "put retried as a whole");
	cr_assert_eq(clk.n, 3);
	/* the trace tells it came through */
	cr_assert_eq(clk.nlines, 4);
	cr_assert(strstr(clk.lines[3],
	                 "tier 'fk': put 'a/b' succeeded on attempt 4/10"),
	          "%s", clk.lines[3]);
	tier_location_free(loc);
}

Test(location, offline_tier_fails_at_once)
{
	tier_location *loc = offline_fake();
	int calls = fk.calls;
	uint64_t attempts = tier_location_attempts(loc);
	fk.fail_n = 0; /* it would answer now, but we gave up on it */
	cr_assert_eq(tier_location_ping(loc), TIER_EOFFLINE);
	cr_assert_str_eq(tier_error_last(),
	                 "tier 'fk' is offline: connection to 'host' refused");
	cr_assert_eq(tier_location_put_mem(loc, "p", "x", 1, 0), TIER_EOFFLINE);
	cr_assert_eq(tier_location_remove(loc, "p"), TIER_EOFFLINE);
	char *s = NULL;
	cr_assert_eq(tier_location_get_all(loc, "obj", &s, NULL, 1000),
	             TIER_EOFFLINE);
	cr_assert_null(s);
	cr_assert_eq(fk.calls, calls,
	             "the driver was called for an offline tier");
	cr_assert_eq(tier_location_attempts(loc), attempts);
	tier_location_free(loc);
}

Test(location, reset_brings_it_back)
{
	tier_location *loc = offline_fake();
	fk.fail_n = 0;
	tier_location_reset(loc);
	cr_assert_not(tier_location_is_offline(loc));
	int calls = fk.calls;
	cr_assert_eq(tier_location_ping(loc), 0, "%s", tier_error_last());
	cr_assert_eq(fk.calls, calls + 1);
	/* and it can go offline again */
	fk.fail_n = 1000;
	cr_assert_eq(tier_location_mkdir_p(loc, "d"), TIER_EOFFLINE);
	cr_assert_eq(fk.calls, calls + 11);
	cr_assert(tier_location_is_offline(loc));
	tier_location_free(loc);
}

Test(location, sleep_hook_sees_growing_delays)
{
	tier_location_options o = fast_opts();
	o.retries = 8;
	o.retry_delay = 10;
	o.retry_cap = 100;
	tier_location *loc = open_fake(&o);
	fk.fail_n = 1000;
	cr_assert_eq(tier_location_ping(loc), TIER_EOFFLINE);
	cr_assert_eq(fk.calls, 8);
	cr_assert_eq(clk.n, 7);
	unsigned int nominal[] = {10, 20, 40, 80, 100, 100, 100};
	for (int i = 0; i < 7; i++) {
		unsigned int d = nominal[i];
		cr_assert(clk.ms[i] >= d - d / 2 && clk.ms[i] <= d,
		          "back-off %d: %u ms, expected [%u, %u]", i, clk.ms[i],
		          d - d / 2, d);
	}
	tier_location_free(loc);
}

Test(location, sleep_hook_nonzero_aborts)
{
	tier_location_options o = fast_opts();
	tier_location *loc = open_fake(&o);
	fk.fail_n = 1000;
	clk.cancel_at = 3;
	cr_assert_eq(tier_location_ping(loc), TIER_EABORTED);
	cr_assert_eq(fk.calls, 3, "no attempt after the cancel");
	cr_assert_not(tier_location_is_offline(loc),
	              "cancelled is not offline");
	cr_assert(strstr(tier_error_last(), "tier 'fk': ping cancelled"), "%s",
	          tier_error_last());
	tier_location_free(loc);
}

struct collect {
	char data[512];
	size_t len;
};

static int collect_sink(const void *data, size_t len, void *payload)
{
	struct collect *c = payload;
	cr_assert_leq(c->len + len, sizeof(c->data));
	memcpy(c->data + c->len, data, len);
	c->len += len;
	return 0;
}

Test(location, get_resumes_without_duplicates)
{
	tier_location_options o = fast_opts();
	tier_location *loc = open_fake(&o);
	struct collect got = {{0}, 0};
	fk.fail_n = 3;
	fk.chunk = 30;
	cr_assert_eq(tier_location_get(loc, "obj", 0, UINT64_MAX, collect_sink,
	                               &got),
	             0, "%s", tier_error_last());
	cr_assert_eq(got.len, 100u);
	cr_assert_eq(memcmp(got.data, fk.object, 100), 0,
	             "bytes duplicated or lost");
	cr_assert_eq(fk.ngets, 4);
	uint64_t offs[] = {0, 30, 60, 90};
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(fk.get_off[i], offs[i], "get %d at %llu", i,
		             (unsigned long long)fk.get_off[i]);
		cr_assert_eq(fk.get_len[i], UINT64_MAX);
	}
	tier_location_free(loc);
}

Test(location, get_range_resumes_with_remaining_length)
{
	tier_location_options o = fast_opts();
	tier_location *loc = open_fake(&o);
	struct collect got = {{0}, 0};
	fk.fail_n = 2;
	fk.chunk = 20;
	cr_assert_eq(tier_location_get(loc, "obj", 10, 50, collect_sink, &got),
	             0, "%s", tier_error_last());
	cr_assert_eq(got.len, 50u);
	cr_assert_eq(memcmp(got.data, fk.object + 10, 50), 0);
	cr_assert_eq(fk.ngets, 3);
	cr_assert_eq(fk.get_off[0], 10u);
	cr_assert_eq(fk.get_len[0], 50u);
	cr_assert_eq(fk.get_off[1], 30u);
	cr_assert_eq(fk.get_len[1], 30u);
	cr_assert_eq(fk.get_off[2], 50u);
	cr_assert_eq(fk.get_len[2], 10u);

	/* the whole range arrived, then the connection broke: done, no more calls */
	memset(&got, 0, sizeof(got));
	fk.calls = 0;
	fk.ngets = 0;
	fk.fail_n = 1;
	fk.chunk = 100;
	cr_assert_eq(tier_location_get(loc, "obj", 0, 40, collect_sink, &got),
	             0);
	cr_assert_eq(got.len, 40u);
	cr_assert_eq(fk.ngets, 1);
	tier_location_free(loc);
}

static int stop_sink(const void *data, size_t len, void *payload)
{
	return 1;
}

Test(location, sink_stop_is_not_retried)
{
	tier_location_options o = fast_opts();
	tier_location *loc = open_fake(&o);
	cr_assert_eq(
	        tier_location_get(loc, "obj", 0, UINT64_MAX, stop_sink, NULL),
	        TIER_EABORTED);
	cr_assert_eq(fk.calls, 1);
	cr_assert_not(tier_location_is_offline(loc));
	tier_location_free(loc);
}

Test(location, messages_never_show_the_password)
{
	tier_location_options o = fast_opts();
	tier_location *loc = open_fake(&o);
	cr_assert_null(strstr(tier_location_display(loc), "secret"), "%s",
	               tier_location_display(loc));
	cr_assert_str_eq(tier_location_name(loc), "fk");
	/* a careless driver echoing a URL with its credentials */
	fk.fail_n = 1000;
	fk.fail_msg = "login to ftp://user:secret@host/x timed out";
	cr_assert_eq(tier_location_put_mem(loc, "a/b", "x", 1, 0),
	             TIER_EOFFLINE);
	const char *m = tier_error_last();
	cr_assert_null(strstr(m, "secret"), "%s", m);
	cr_assert(strstr(m, "tier 'fk' ("), "%s", m);
	cr_assert(strstr(m, "offline after 10 attempts: login to "
	                    "ftp://user:***@host/x timed out"),
	          "%s", m);
	cr_assert_eq(clk.nlines, 10);
	for (int i = 0; i < 10; i++)
		cr_assert_null(strstr(clk.lines[i], "secret"), "%s",
		               clk.lines[i]);
	cr_assert_eq(tier_location_ping(loc), TIER_EOFFLINE);
	cr_assert_null(strstr(tier_error_last(), "secret"), "%s",
	               tier_error_last());

	/* the same for a permanent error, and a secret query key */
	tier_location_reset(loc);
	fk.fail_code = TIER_EAUTH;
	fk.fail_msg = "refused 'sftp://u:secret@h:22/p?key=/k&token=secret'";
	cr_assert_eq(tier_location_ping(loc), TIER_EAUTH);
	cr_assert_str_eq(
	        tier_error_last(),
	        "tier 'fk': refused 'sftp://u:***@h:22/p?key=/k&token=***'");
	tier_location_free(loc);
}

/*
 * Credentials go as fields of a URL, never by their text: with the
 * password "p" (open_fake's is "secret"), ordinary words stay whole.
 */
Test(location, scrubbing_leaves_words_that_hold_the_password)
{
	tier_buf b = TIER_BUF_INIT;
	cr_assert_eq(tier_redact_urls(&b, "127.0.0.1 port 2232: Operation "
	                                  "failed (ftp://u@h/p)"),
	             0);
	cr_assert_str_eq(tier_buf_cstr(&b),
	                 "127.0.0.1 port 2232: Operation failed (ftp://u@h/p)");
	tier_buf_clear(&b);
	cr_assert_eq(tier_redact_urls(&b,
	                              "s3://K:p@b/x?endpoint=http://a:p@e:9000"
	                              "&X-Amz-Signature=abc and more"),
	             1);
	cr_assert_str_eq(tier_buf_cstr(&b),
	                 "s3://K:***@b/x?endpoint=http://a:***@e:9000"
	                 "&X-Amz-Signature=*** and more");
	tier_buf_dispose(&b);
}

Test(location, trace_has_one_line_per_failed_attempt)
{
	tier_location_options o = fast_opts();
	o.retries = 4;
	tier_location *loc = open_fake(&o);
	fk.fail_n = 1000;
	cr_assert_eq(tier_location_remove(loc, "a/b"), TIER_EOFFLINE);
	cr_assert_eq(clk.nlines, 4);
	cr_assert(
	        !strncmp(clk.lines[2], "tier 'fk': attempt 3/4, next in ", 32),
	        "%s", clk.lines[2]);
	cr_assert(strstr(clk.lines[2],
	                 " ms (remove 'a/b': offline: connection to 'host' "
	                 "refused)"),
	          "%s", clk.lines[2]);
	cr_assert(strstr(clk.lines[3],
	                 "tier 'fk': attempt 4/4 failed, giving up (remove "
	                 "'a/b': offline: "),
	          "%s", clk.lines[3]);
	cr_assert_str_eq(
	        tier_error_last(),
	        "tier 'fk' (ftp://user:***@host/x) offline after 4 attempts: "
	        "connection to 'host' refused");
	tier_location_free(loc);
}

Test(location, retries_zero_means_one_attempt)
{
	tier_location_options o = fast_opts();
	o.retries = 0;
	tier_location *loc = open_fake(&o);
	fk.fail_n = 1000;
	cr_assert_eq(tier_location_ping(loc), TIER_EOFFLINE);
	cr_assert_eq(fk.calls, 1);
	cr_assert_eq(clk.n, 0);
	cr_assert(strstr(tier_error_last(), "offline after 1 attempt: "), "%s",
	          tier_error_last());
	tier_location_free(loc);
}

Test(location, get_all_reads_small_objects)
{
	tier_location_options o = fast_opts();
	tier_location *loc = open_fake(&o);
	char *s = NULL;
	size_t n = 0;
	fk.fail_n = 2;
	fk.chunk = 40;
	cr_assert_eq(tier_location_get_all(loc, "obj", &s, &n, 100), 0, "%s",
	             tier_error_last());
	cr_assert_eq(n, 100u);
	cr_assert_eq(memcmp(s, fk.object, 100), 0);
	cr_assert_eq(s[100], '\0');
	free(s);

	/* one byte too large */
	s = (char *)1;
	cr_assert_eq(tier_location_get_all(loc, "obj", &s, &n, 99),
	             TIER_ECORRUPT);
	cr_assert_null(s);
	cr_assert(strstr(tier_error_last(), "'obj'"), "%s", tier_error_last());
	cr_assert(strstr(tier_error_last(), "larger than 99 bytes"), "%s",
	          tier_error_last());
	cr_assert_not(tier_location_is_offline(loc));

	/* empty: still a string */
	fk.object_len = 0;
	cr_assert_eq(tier_location_get_all(loc, "obj", &s, &n, 10), 0);
	cr_assert_not_null(s);
	cr_assert_eq(n, 0u);
	cr_assert_str_eq(s, "");
	free(s);

	cr_assert_eq(tier_location_get_all(loc, "nope", &s, NULL, 10),
	             TIER_ENOTFOUND);
	cr_assert_null(s);
	tier_location_free(loc);
}

struct names {
	char seen[16];
	int n;
};

static int collect_name(const char *name, const tier_stat *st, void *payload)
{
	struct names *nm = payload;
	cr_assert_lt(nm->n, 15);
	nm->seen[nm->n++] = name[0];
	return 0;
}

Test(location, list_retry_gives_each_name_once)
{
	tier_location_options o = fast_opts();
	tier_location *loc = open_fake(&o);
	struct names nm = {{0}, 0};
	fk.fail_n = 2;
	cr_assert_eq(tier_location_list(loc, "data", collect_name, &nm), 0);
	cr_assert_eq(fk.calls, 3);
	cr_assert_str_eq(nm.seen, "abc");
	tier_location_free(loc);
}

Test(location, unsupported_operation)
{
	tier_location_options o = fast_opts();
	tier_location *loc = open_fake(&o);
	cr_assert_eq(tier_location_rename(loc, "a", "b"), TIER_EUNSUPPORTED);
	cr_assert(strstr(tier_error_last(), "tier 'fk'"), "%s",
	          tier_error_last());
	cr_assert_eq(tier_location_attempts(loc), 0u);
	cr_assert_eq(tier_location_caps(loc), TIER_DRIVER_CAP_DIRS);
	tier_location_free(loc);
}

Test(location, options_and_open_errors)
{
	tier_location *loc = (tier_location *)1;
	tier_location_options o = fast_opts();

	tier_location_free(NULL); /* no-op */

	o.version = 99;
	memset(&fk, 0, sizeof(fk));
	cr_assert_eq(tier_driver_register("ftp", fk_open), 0);
	cr_assert_eq(tier_location_open(&loc, SPEC, &o), TIER_EUSAGE);
	cr_assert_null(loc);
	cr_assert(strstr(tier_error_last(), "version 99"), "%s",
	          tier_error_last());

	cr_assert_eq(tier_location_open(&loc, "fk=nosuch://host/x", NULL),
	             TIER_EUSAGE);
	cr_assert_null(loc);

	/* NULL options: the defaults */
	cr_assert_eq(tier_location_open(&loc, SPEC, NULL), 0, "%s",
	             tier_error_last());
	cr_assert_eq(tier_location_ping(loc), 0);
	cr_assert_eq(tier_location_attempts(loc), 1u);
	cr_assert_eq(tier_location_url(loc)->port, 0);
	cr_assert_str_eq(tier_location_url(loc)->scheme, "ftp");
	tier_location_free(loc);
	cr_assert_eq(fk.frees, 1);
}

/* The real file driver: an unmounted share is offline, not empty. */
Test(location, file_tier_root_gone_is_offline)
{
	const char *dir = tt_tmpdir();
	tier_location_options o = fast_opts();
	tier_location *loc = NULL;
	o.retries = 3;
	memset(&clk, 0, sizeof(clk));
	cr_assert_not_null(dir);
	cr_assert_eq(
	        tier_location_open(&loc, tt_path("usb=file://%s/usb", dir), &o),
	        0, "%s", tier_error_last());
	cr_assert_eq(tier_location_stat(loc, "log.git/HEAD", &(tier_stat){0}),
	             TIER_EOFFLINE);
	cr_assert_eq(tier_location_attempts(loc), 3u);
	cr_assert_eq(clk.n, 2);
	const char *m = tier_error_last();
	cr_assert(
	        strstr(m,
	               tt_path("tier 'usb' (file://%s/usb) offline after 3 attempts: ",
	                       dir)),
	        "%s", m);
	cr_assert(strstr(m, "/usb"), "%s", m);

	/* mounted again: reset and it answers */
	cr_assert_eq(tt_sh("mkdir '%s/usb'", dir), 0);
	tier_location_reset(loc);
	cr_assert_eq(tier_location_put_mem(loc, "hello", "hi", 2, 0), 0, "%s",
	             tier_error_last());
	char *s = NULL;
	cr_assert_eq(tier_location_get_all(loc, "hello", &s, NULL, 10), 0, "%s",
	             tier_error_last());
	cr_assert_str_eq(s, "hi");
	free(s);
	tier_location_free(loc);
	tt_rmrf(dir);
}

/*
 * A fault+ tier goes offline while a put runs and comes back during the
 * back-off: the reconnect layer retries, the put completes, the tier is
 * online, and the trace shows each failed attempt.
 */
struct flip {
	char ctl[4096];
	unsigned sleeps;
	unsigned back_after;
	char trace[8192];
};

static int flip_sleep(unsigned int ms, void *payload)
{
	struct flip *f = payload;
	(void)ms;
	if (++f->sleeps == f->back_after)
		tt_write_file(f->ctl, "", 0); /* the share is mounted again */
	return 0;
}

static void flip_trace(const char *line, void *payload)
{
	struct flip *f = payload;
	size_t n = strlen(f->trace);
	snprintf(f->trace + n, sizeof(f->trace) - n, "%s\n", line);
}

Test(location, fault_tier_offline_and_back_during_a_put)
{
	const char *dir = tt_tmpdir();
	struct flip f = {.back_after = 3};
	char spec[8400];
	snprintf(f.ctl, sizeof(f.ctl), "%s/ctl", dir);
	tt_sh("mkdir -p %s/root", dir);
	tt_write_file(f.ctl, "offline\n", 8);
	snprintf(spec, sizeof(spec), "x=fault+file://%s/root?fault=%s", dir,
	         f.ctl);
	tier_location_options o = TIER_LOCATION_OPTIONS_INIT;
	o.retry_delay = 1;
	o.sleep = flip_sleep;
	o.trace = flip_trace;
	o.payload = &f;
	tier_location *loc = NULL;
	cr_assert_eq(tier_location_open(&loc, spec, &o), 0, "%s",
	             tier_error_last());
	cr_assert_eq(tier_location_put_mem(loc, "d/obj", "payload", 7, 0), 0,
	             "%s", tier_error_last());
	cr_assert_eq(f.sleeps, 3, "three back-offs while it was away");
	cr_assert_eq(tier_location_attempts(loc), 4,
	             "three failed attempts and the good one");
	cr_assert_not(tier_location_is_offline(loc));
	cr_assert(strstr(f.trace, "attempt 1/10") &&
	                  strstr(f.trace, "attempt 3/10"),
	          "%s", f.trace);
	size_t n = 0;
	char *back = tt_read_file(tt_path("%s/root/d/obj", dir), &n);
	cr_assert(back && n == 7 && !memcmp(back, "payload", 7));
	free(back);
	/* and when it stays away, the tier is offline after the last attempt */
	tt_write_file(f.ctl, "offline\n", 8);
	f.back_after = 1000;
	cr_assert_eq(tier_location_put_mem(loc, "d/obj2", "x", 1, 0),
	             TIER_EOFFLINE);
	cr_assert(tier_location_is_offline(loc));
	cr_assert(strstr(tier_error_last(), "offline after 10 attempts") !=
	                  NULL,
	          "%s", tier_error_last());
	tier_location_free(loc);
	tt_rmrf(dir);
}
