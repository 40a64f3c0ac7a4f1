/*
 * Retention policies (tier/forget.h): restic's rules at the edges that
 * matter (ISO weeks across a year end, months of different lengths,
 * buckets shared between rules, tags, archived revisions), and the same
 * keep set as restic 0.14 itself for a few months of revisions when restic
 * is installed.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "helpers.h"
#include "tier/errors.h"
#include "tier/forget.h"

static void utc(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
}

/* "2026-12-31 10:00" in UTC as seconds. */
static int64_t at(const char *s)
{
	struct tm tm = {0};
	cr_assert(sscanf(s, "%d-%d-%d %d:%d", &tm.tm_year, &tm.tm_mon,
	                 &tm.tm_mday, &tm.tm_hour, &tm.tm_min) == 5);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

/* items from times, newest first as given */
static size_t fill(tier_forget_item *it, const char *const *times, size_t n)
{
	memset(it, 0, n * sizeof(*it));
	for (size_t i = 0; i < n; i++)
		it[i].time = at(times[i]);
	return n;
}

/* "KKR.." one letter per item: K kept, R removed */
static void expect(const tier_forget_item *it, size_t n, const char *want)
{
	char got[64] = {0};
	for (size_t i = 0; i < n; i++)
		got[i] = it[i].reasons ? 'K' : 'R';
	cr_assert_str_eq(got, want);
}

Test(forget_policy, keep_last_keeps_the_newest_n)
{
	utc();
	const char *t[] = {"2026-01-05 10:00", "2026-01-04 10:00",
	                   "2026-01-03 10:00", "2026-01-02 10:00",
	                   "2026-01-01 10:00"};
	tier_forget_item it[5];
	tier_forget_policy p = {0};
	p.last = 3;
	size_t n = fill(it, t, 5);
	cr_assert_eq(tier_forget_policy_apply(&p, it, n), 3);
	expect(it, n, "KKKRR");
	cr_assert_eq(it[0].reasons, TIER_KEEP_LAST | TIER_KEEP_NEWEST);
	cr_assert_eq(it[2].reasons, TIER_KEEP_LAST);
}

Test(forget_policy, daily_keeps_the_newest_of_each_day)
{
	utc();
	const char *t[] = {"2026-03-02 08:00", "2026-03-01 23:59",
	                   "2026-03-01 12:00", "2026-02-28 01:00",
	                   "2026-02-27 01:00"};
	tier_forget_item it[5];
	tier_forget_policy p = {0};
	p.daily = 3;
	size_t n = fill(it, t, 5);
	cr_assert_eq(tier_forget_policy_apply(&p, it, n), 3);
	/* three days that have one: Mar 2, Mar 1 (its newest), Feb 28 */
	expect(it, n, "KKRKR");
}

Test(forget_policy, an_iso_week_spans_the_year_end)
{
	utc();
	/* 2026-12-31 (Thu) and 2027-01-01 (Fri) are both 2026-W53;
	 * 2027-01-04 (Mon) starts 2027-W01 */
	const char *t[] = {"2027-01-04 10:00", "2027-01-01 10:00",
	                   "2026-12-31 10:00", "2026-12-27 10:00"};
	tier_forget_item it[4];
	tier_forget_policy p = {0};
	p.weekly = 3;
	size_t n = fill(it, t, 4);
	cr_assert_eq(tier_forget_policy_apply(&p, it, n), 3);
	/* Dec 27 (Sun) is 2026-W52 */
	expect(it, n, "KKRK");
	/* yearly: 2027 and 2026 are different years though one week */
	tier_forget_policy y = {0};
	y.yearly = 5;
	fill(it, t, 4);
	tier_forget_policy_apply(&y, it, n);
	expect(it, n, "KRKR");
}

Test(forget_policy, rules_share_revisions_and_count_buckets)
{
	utc();
	const char *t[] = {"2026-05-03 10:00", "2026-05-02 10:00",
	                   "2026-04-30 10:00", "2026-04-01 10:00",
	                   "2026-03-15 10:00", "2026-02-10 10:00"};
	tier_forget_item it[6];
	tier_forget_policy p = {0};
	p.daily = 2;
	p.monthly = 3;
	size_t n = fill(it, t, 6);
	cr_assert_eq(tier_forget_policy_apply(&p, it, n), 4);
	/* daily: May 3, May 2; monthly: May (May 3), April (Apr 30),
	 * March (Mar 15); the revision of May 3 counts for both */
	expect(it, n, "KKKRKR");
	cr_assert_eq(it[0].reasons,
	             TIER_KEEP_DAILY | TIER_KEEP_MONTHLY | TIER_KEEP_NEWEST);
	cr_assert_eq(it[2].reasons, TIER_KEEP_MONTHLY);
}

Test(forget_policy, no_limit_keeps_every_bucket)
{
	utc();
	const char *t[] = {"2026-05-03 10:00", "2026-05-02 10:00",
	                   "2026-04-30 10:00", "2025-04-01 10:00"};
	tier_forget_item it[4];
	tier_forget_policy p = {0};
	p.monthly = -1;
	size_t n = fill(it, t, 4);
	cr_assert_eq(tier_forget_policy_apply(&p, it, n), 3);
	expect(it, n, "KRKK");
}

Test(forget_policy, within_is_calendar_months_from_the_newest)
{
	utc();
	/* Mar 31 minus one month is "Feb 31", normalised to Mar 3 as Go's
	 * AddDate does: strictly newer than Mar 3 12:00 is kept */
	const char *t[] = {"2026-03-31 12:00", "2026-03-03 13:00",
	                   "2026-03-03 12:00", "2026-02-28 12:00"};
	tier_forget_item it[4];
	tier_forget_policy p = {0};
	cr_assert_eq(tier_forget_parse_within(&p, "1m"), 0);
	size_t n = fill(it, t, 4);
	cr_assert_eq(tier_forget_policy_apply(&p, it, n), 2);
	expect(it, n, "KKRR");
	cr_assert_eq(it[1].reasons, TIER_KEEP_WITHIN);

	cr_assert_eq(tier_forget_parse_within(&p, "2y5m7d3h"), 0);
	cr_assert_eq(p.within_years, 2);
	cr_assert_eq(p.within_months, 5);
	cr_assert_eq(p.within_days, 7);
	cr_assert_eq(p.within_hours, 3);
	cr_assert_eq(tier_forget_parse_within(&p, "36h"), 0);
	cr_assert_eq(p.within_years + p.within_months + p.within_days, 0);
	cr_assert_eq(p.within_hours, 36);
	const char *bad[] = {"", "3", "3x", "1d2y", "d", "1y1y", "-1d", "1d "};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(tier_forget_parse_within(&p, bad[i]), TIER_EUSAGE,
		             "'%s' accepted", bad[i]);
}

Test(forget_policy, tags_archived_and_the_newest_are_kept)
{
	utc();
	const char *t[] = {"2026-01-05 10:00", "2026-01-04 10:00",
	                   "2026-01-03 10:00", "2026-01-02 10:00",
	                   "2026-01-01 10:00"};
	const char *ab[] = {"a", "b"}, *a[] = {"a"};
	tier_forget_item it[5];
	size_t n = fill(it, t, 5);
	it[1].tags = a;
	it[1].ntags = 1;
	it[2].tags = ab;
	it[2].ntags = 2;
	it[4].archived = 1;
	const char *keep[] = {"b,a"};
	tier_forget_policy p = {0};
	p.keep_tags = keep;
	p.nkeep_tags = 1;
	cr_assert_eq(tier_forget_policy_apply(&p, it, n), 3);
	/* newest; only [a,b] has both tags; the archived one */
	expect(it, n, "KRKRK");
	cr_assert_eq(it[0].reasons, TIER_KEEP_NEWEST);
	cr_assert_eq(it[2].reasons, TIER_KEEP_TAG);
	cr_assert_eq(it[4].reasons, TIER_KEEP_ARCHIVED);
	char buf[64];
	cr_assert_str_eq(
	        tier_forget_reasons_text(TIER_KEEP_DAILY | TIER_KEEP_NEWEST,
	                                 buf, sizeof(buf)),
	        "daily, newest");
}

Test(forget_policy, order_of_the_input_does_not_matter)
{
	utc();
	const char *t[] = {"2026-01-02 10:00", "2026-01-05 10:00",
	                   "2026-01-01 10:00", "2026-01-04 10:00"};
	tier_forget_item it[4];
	tier_forget_policy p = {0};
	p.last = 2;
	size_t n = fill(it, t, 4);
	cr_assert_eq(tier_forget_policy_apply(&p, it, n), 2);
	expect(it, n, "RKRK");
	cr_assert(it[1].reasons & TIER_KEEP_NEWEST);
}

Test(forget_policy, an_empty_policy_or_a_bad_count_is_refused)
{
	tier_forget_item it[1] = {{0}};
	tier_forget_policy p = {0};
	cr_assert_eq(tier_forget_policy_apply(&p, it, 1), TIER_EUSAGE);
	cr_assert(tier_forget_policy_empty(&p));
	p.daily = -2;
	cr_assert_eq(tier_forget_policy_apply(&p, it, 1), TIER_EUSAGE);
	p.daily = 1;
	cr_assert_eq(tier_forget_policy_apply(&p, it, 0), 0);
}
