/* The retry policy: back-off, jitter, and what is retried. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "helpers.h"
#include "retry.h"
#include "util/error.h"

/* Bounds of the nominal delay d = min(cap, base * 2^attempt). */
static void check_bounds(unsigned int got, uint64_t d)
{
	uint64_t lo = d - d / 2;
	cr_assert(got >= lo && got <= d, "delay %u outside [%llu, %llu]", got,
	          (unsigned long long)lo, (unsigned long long)d);
}

Test(retry, delays_grow_exponentially)
{
	tier_retry_policy p = {10, 100, UINT_MAX};
	uint64_t rng = 1;
	for (unsigned int a = 0; a < 20; a++)
		for (int k = 0; k < 50; k++)
			check_bounds(tier_retry_delay(&p, a, &rng),
			             (uint64_t)100 << a);
	/* the lower bound of one step is the upper bound of the one before:
	 * the delays really grow, whatever the jitter */
	for (unsigned int a = 1; a < 20; a++)
		cr_assert_geq(tier_retry_delay(&p, a, &rng),
		              (uint64_t)100 << (a - 1));
}

Test(retry, bounded_by_cap)
{
	tier_retry_policy p = TIER_RETRY_POLICY_INIT;
	uint64_t rng = 42;
	unsigned int seen_max = 0;
	for (unsigned int a = 0; a < 200; a++) {
		unsigned int d = tier_retry_delay(&p, a, &rng);
		cr_assert_leq(d, 30000u,
		              "attempt %u: %u ms is above the 30 s cap", a, d);
		if (d > seen_max)
			seen_max = d;
	}
	cr_assert_geq(seen_max, 15000u, "never came near the cap");
	/* the SPEC defaults */
	cr_assert_eq(p.retries, 10u);
	cr_assert_eq(p.base, 200u);
	cr_assert_eq(p.cap, 30000u);
	/* a cap below the base wins: never above the cap */
	tier_retry_policy low = {3, 500, 40};
	for (int k = 0; k < 100; k++)
		check_bounds(tier_retry_delay(&low, 0, &rng), 40);
	/* cap 0: no growth */
	tier_retry_policy flat = {3, 50, 0};
	for (unsigned int a = 0; a < 40; a++)
		check_bounds(tier_retry_delay(&flat, a, &rng), 50);
}

Test(retry, jitter_spreads_within_half_to_full)
{
	tier_retry_policy p = {10, 1000, 100000};
	uint64_t rng = 7;
	unsigned int lo = UINT_MAX, hi = 0;
	for (int k = 0; k < 2000; k++) {
		unsigned int d = tier_retry_delay(&p, 2, &rng);
		check_bounds(d, 4000);
		if (d < lo)
			lo = d;
		if (d > hi)
			hi = d;
	}
	/* uniform over [2000, 4000]: 2000 draws cover most of it */
	cr_assert_lt(lo, 2200u, "lowest delay %u: jitter does not reach d/2",
	             lo);
	cr_assert_gt(hi, 3800u, "highest delay %u: jitter does not reach d",
	             hi);
	/* same seed, same sequence: tests can rely on it */
	uint64_t a = 99, b = 99;
	for (int k = 0; k < 10; k++)
		cr_assert_eq(tier_retry_delay(&p, 3, &a),
		             tier_retry_delay(&p, 3, &b));
	/* NULL state is allowed */
	check_bounds(tier_retry_delay(&p, 0, NULL), 1000);
}

Test(retry, huge_attempt_numbers_do_not_overflow)
{
	tier_retry_policy big = {10, UINT_MAX, UINT_MAX};
	tier_retry_policy small = {10, 3, 1000};
	uint64_t rng = 0; /* 0 is a valid state */
	unsigned int attempts[] = {31, 32,   33,           63,      64,
	                           65, 1000, UINT_MAX - 1, UINT_MAX};
	for (size_t i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++) {
		check_bounds(tier_retry_delay(&big, attempts[i], &rng),
		             UINT_MAX);
		check_bounds(tier_retry_delay(&small, attempts[i], &rng), 1000);
	}
	/* base 3 << 31 overflows 32 bits but must still come out as the cap */
	check_bounds(tier_retry_delay(&small, 31, &rng), 1000);
}

Test(retry, never_zero_with_a_base)
{
	tier_retry_policy one = {10, 1, 1};
	tier_retry_policy none = {10, 0, 1000};
	uint64_t rng = 5;
	for (unsigned int a = 0; a < 100; a++) {
		cr_assert_eq(tier_retry_delay(&one, a, &rng), 1u);
		cr_assert_eq(tier_retry_delay(&none, a, &rng), 0u);
	}
	tier_retry_policy two = {10, 1, 2};
	for (int k = 0; k < 100; k++)
		cr_assert_geq(tier_retry_delay(&two, 5, &rng), 1u);
}

/* ---- tier_retry_run ---- */

struct script {
	int calls;
	int fail_n;    /* the first fail_n calls fail ... */
	int fail_code; /* ... with this */
	unsigned int sleeps[64];
	int nsleeps;
	int cancel_at; /* sleep number (1-based) that returns non-zero */
	char lines[16][512];
	int nlines;
};

static int op(void *arg)
{
	struct script *s = arg;
	if (++s->calls <= s->fail_n)
		return tier_error_set(s->fail_code, "host 'h' failed call %d",
		                      s->calls);
	return 0;
}

static int rec_sleep(unsigned int ms, void *payload)
{
	struct script *s = payload;
	if (s->nsleeps < 64)
		s->sleeps[s->nsleeps] = ms;
	s->nsleeps++;
	return s->cancel_at && s->nsleeps == s->cancel_at;
}

static void rec_trace(const char *line, void *payload)
{
	struct script *s = payload;
	if (s->nlines < 16)
		snprintf(s->lines[s->nlines], sizeof(s->lines[0]), "%s", line);
	s->nlines++;
}

Test(retry, retries_only_transient)
{
	tier_retry_policy p = {5, 1, 10};
	int permanent[] = {TIER_ERROR,  TIER_ENOTFOUND, TIER_EAUTH,
	                   TIER_ENOSPC, TIER_ECORRUPT,  TIER_ECONFLICT,
	                   TIER_EUSAGE, TIER_EABORTED};
	for (size_t i = 0; i < sizeof(permanent) / sizeof(permanent[0]); i++) {
		struct script s = {.fail_n = 100, .fail_code = permanent[i]};
		unsigned int made = 99;
		int rc = tier_retry_run(&p, op, &s, rec_sleep, NULL, &s, &made);
		cr_assert_eq(rc, permanent[i]);
		cr_assert_eq(s.calls, 1, "%s was retried",
		             tier_error_name(permanent[i]));
		cr_assert_eq(made, 1u);
		cr_assert_eq(s.nsleeps, 0);
		cr_assert_str_eq(tier_error_last(), "host 'h' failed call 1");
	}

	struct script t = {.fail_n = 2, .fail_code = TIER_EOFFLINE};
	unsigned int made = 0;
	cr_assert_eq(tier_retry_run(&p, op, &t, rec_sleep, NULL, &t, &made), 0);
	cr_assert_eq(t.calls, 3);
	cr_assert_eq(made, 3u);
	cr_assert_eq(t.nsleeps, 2);
}

Test(retry, attempt_counts_and_giving_up)
{
	tier_retry_policy p = {5, 1, 10};
	struct script s = {.fail_n = 100, .fail_code = TIER_EOFFLINE};
	unsigned int made = 0;
	int rc = tier_retry_run(&p, op, &s, rec_sleep, rec_trace, &s, &made);
	cr_assert_eq(rc, TIER_EOFFLINE);
	cr_assert_eq(s.calls, 5);
	cr_assert_eq(made, 5u);
	cr_assert_eq(s.nsleeps, 4,
	             "one sleep between attempts, none after the last");
	cr_assert_str_eq(tier_error_last(),
	                 "gave up after 5 attempts: host 'h' failed call 5");
	cr_assert_eq(tier_error_last_code(), TIER_EOFFLINE);
	cr_assert_eq(s.nlines, 5, "one trace line per failed attempt");
	/* the headline first: a terminal shows the start of an updating line */
	cr_assert(!strncmp(s.lines[2], "operation: attempt 3/5, next in ", 32),
	          "%s", s.lines[2]);
	cr_assert(strstr(s.lines[2], " ms (offline: host 'h' failed call 3)"),
	          "%s", s.lines[2]);
	cr_assert(strstr(s.lines[4], "attempt 5/5 failed, giving up"), "%s",
	          s.lines[4]);

	/* retries == 0 means one attempt */
	tier_retry_policy zero = {0, 1, 10};
	struct script z = {.fail_n = 100, .fail_code = TIER_EOFFLINE};
	cr_assert_eq(tier_retry_run(&zero, op, &z, rec_sleep, NULL, &z, &made),
	             TIER_EOFFLINE);
	cr_assert_eq(z.calls, 1);
	cr_assert_eq(made, 1u);
	cr_assert_str_eq(tier_error_last(),
	                 "gave up after 1 attempt: host 'h' failed call 1");
}

Test(retry, sleep_hook_sees_delays_and_cancels)
{
	tier_retry_policy p = {10, 8, 50};
	struct script s = {
	        .fail_n = 100, .fail_code = TIER_EOFFLINE, .cancel_at = 4};
	unsigned int made = 0;
	uint64_t rng = 3;
	tier_retry_hooks h = {rec_sleep, NULL, &s, "tier 'x'", &rng, "ping"};
	int rc = tier_retry_run_ex(&p, op, &s, &h, &made);
	cr_assert_eq(rc, TIER_EABORTED);
	cr_assert_eq(s.calls, 4);
	cr_assert_eq(made, 4u);
	cr_assert_eq(s.nsleeps, 4);
	check_bounds(s.sleeps[0], 8);
	check_bounds(s.sleeps[1], 16);
	check_bounds(s.sleeps[2], 32);
	check_bounds(s.sleeps[3], 50);
	cr_assert(strstr(tier_error_last(), "tier 'x': ping cancelled"), "%s",
	          tier_error_last());
	cr_assert(strstr(tier_error_last(), "host 'h' failed call 4"), "%s",
	          tier_error_last());
}

Test(retry, default_sleep_really_waits_briefly)
{
	tier_retry_policy p = {3, 2, 2};
	struct script s = {.fail_n = 100, .fail_code = TIER_EOFFLINE};
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	cr_assert_eq(tier_retry_run(&p, op, &s, NULL, NULL, NULL, NULL),
	             TIER_EOFFLINE);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 +
	            (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	cr_assert_eq(s.calls, 3);
	cr_assert_geq(ms, 2.0, "two back-offs of 1-2 ms took %.3f ms", ms);
	cr_assert_lt(ms, 1000.0);
}

/* Issue 13.8: the line a terminal shows, "tier 'srv': attempt 3/10, next
 * in 1.6 s", with the delay in seconds from one second on. */
Test(retry, trace_headline_in_seconds)
{
	tier_retry_policy p = {3, 2000, 2000};
	struct script s = {.fail_n = 100, .fail_code = TIER_EOFFLINE};
	tier_retry_hooks h = {rec_sleep,    rec_trace, &s,
	                      "tier 'srv'", NULL,      "stat 'log.git/HEAD'"};
	cr_assert_eq(tier_retry_run_ex(&p, op, &s, &h, NULL), TIER_EOFFLINE);
	cr_assert_eq(s.nlines, 3);
	for (int i = 0; i < 2; i++) {
		char want[64];
		unsigned int ms = s.sleeps[i];
		snprintf(want, sizeof(want),
		         "tier 'srv': attempt %d/3, next in %.1f s (", i + 1,
		         ms / 1000.0);
		cr_assert(!strncmp(s.lines[i], want, strlen(want)), "%s",
		          s.lines[i]);
		cr_assert(strstr(s.lines[i], "(stat 'log.git/HEAD': offline: "),
		          "%s", s.lines[i]);
	}
	cr_assert(!strncmp(s.lines[2],
	                   "tier 'srv': attempt 3/3 failed, giving up", 41),
	          "%s", s.lines[2]);
}
