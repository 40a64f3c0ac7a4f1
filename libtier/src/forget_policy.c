/*
 * Retention policies: restic's rules over revision times (tier/forget.h).
 *
 * Each bucket rule walks the revisions newest first and keeps a revision
 * whose bucket (hour, day, ISO week, month, year in local time; for "last"
 * the revision itself) differs from the one it kept last, until its count
 * is spent.  Every rule sees every revision: one revision can be the daily
 * and the monthly one at once, which is why restic's counts are "buckets
 * that have one", not revisions.
 */
#include "tier/forget.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tier/errors.h"
#include "util/error.h"
#include "util/buf.h"

int tier_forget_policy_empty(const tier_forget_policy *p)
{
	return !p->last && !p->hourly && !p->daily && !p->weekly &&
	       !p->monthly && !p->yearly && !p->within_years &&
	       !p->within_months && !p->within_days && !p->within_hours &&
	       !p->nkeep_tags;
}

int tier_forget_parse_within(tier_forget_policy *p, const char *span)
{
	static const char units[] = "ymdh";
	int v[4] = {0, 0, 0, 0}, seen = 0;
	size_t next = 0;
	const char *s = span;

	while (*s) {
		if (*s < '0' || *s > '9')
			goto bad;
		long n = 0;
		while (*s >= '0' && *s <= '9') {
			n = n * 10 + (*s++ - '0');
			if (n > 100000)
				goto bad;
		}
		const char *u = *s ? strchr(units + next, *s) : NULL;
		if (!u)
			goto bad;
		next = (size_t)(u - units) + 1;
		v[u - units] = (int)n;
		seen = 1;
		s++;
	}
	if (!seen)
		goto bad;
	p->within_years = v[0];
	p->within_months = v[1];
	p->within_days = v[2];
	p->within_hours = v[3];
	return 0;
bad:
	return tier_error_set(TIER_EUSAGE,
	                      "bad --keep-within '%s': write years, months, "
	                      "days and hours in that order, e.g. 2y5m7d3h",
	                      span);
}

/* The ISO 8601 week of tm as year * 100 + week (Go's ISOWeek). */
static long iso_week(const struct tm *tm)
{
	char y[8], w[4];
	strftime(y, sizeof(y), "%G", tm);
	strftime(w, sizeof(w), "%V", tm);
	return atol(y) * 100 + atol(w);
}

enum { R_LAST, R_HOURLY, R_DAILY, R_WEEKLY, R_MONTHLY, R_YEARLY, NRULES };

/* The bucket of rule r for a revision at local time tm, the nr-th. */
static long bucket(int r, const struct tm *tm, size_t nr)
{
	long y = tm->tm_year + 1900L, m = tm->tm_mon + 1L, d = tm->tm_mday;
	switch (r) {
	case R_LAST:
		return (long)nr;
	case R_HOURLY:
		return ((y * 100 + m) * 100 + d) * 100 + tm->tm_hour;
	case R_DAILY:
		return (y * 100 + m) * 100 + d;
	case R_WEEKLY:
		return iso_week(tm);
	case R_MONTHLY:
		return y * 100 + m;
	default:
		return y;
	}
}

/* Whether the item has every tag of the comma list want. */
static int has_tags(const tier_forget_item *it, const char *want)
{
	const char *s = want;
	while (*s) {
		size_t n = strcspn(s, ",");
		int found = n == 0;
		for (size_t i = 0; i < it->ntags && !found; i++)
			found = strlen(it->tags[i]) == n &&
			        memcmp(it->tags[i], s, n) == 0;
		if (!found)
			return 0;
		s += n;
		if (*s == ',')
			s++;
	}
	return 1;
}

/* The oldest time --keep-within keeps (exclusive), from the newest. */
static int64_t within_cutoff(const tier_forget_policy *p, int64_t newest)
{
	time_t t = (time_t)newest;
	struct tm tm;
	localtime_r(&t, &tm);
	/* calendar arithmetic as Go's AddDate: mktime normalises Feb 31 to
	 * Mar 3, the same way */
	tm.tm_year -= p->within_years;
	tm.tm_mon -= p->within_months;
	tm.tm_mday -= p->within_days;
	tm.tm_isdst = -1;
	return (int64_t)mktime(&tm) - (int64_t)p->within_hours * 3600;
}

struct slot {
	int64_t time;
	size_t i;
};

/* Newest first; equal times keep the caller's order. */
static int by_time(const void *a, const void *b)
{
	const struct slot *x = a, *y = b;
	if (x->time != y->time)
		return x->time > y->time ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

int tier_forget_policy_apply(const tier_forget_policy *p,
                             tier_forget_item *items, size_t n)
{
	const int count0[NRULES] = {p->last,   p->hourly,  p->daily,
	                            p->weekly, p->monthly, p->yearly};
	int left[NRULES];
	long last[NRULES];
	int kept = 0;

	if (tier_forget_policy_empty(p))
		return tier_error_set(TIER_EUSAGE,
		                      "no policy given: name at least one "
		                      "--keep-* rule (nothing is forgotten)");
	for (int r = 0; r < NRULES; r++) {
		if (count0[r] < -1)
			return tier_error_set(
			        TIER_EUSAGE,
			        "a keep count of %d: counts are -1 "
			        "(no limit) or more",
			        count0[r]);
		left[r] = count0[r];
		last[r] = -1;
	}
	if (n == 0)
		return 0;
	struct slot *order = tier_calloc(n, sizeof(*order));
	if (!order)
		return TIER_ERROR;
	for (size_t i = 0; i < n; i++)
		order[i] = (struct slot){items[i].time, i};
	qsort(order, n, sizeof(*order), by_time);

	int use_within = p->within_years || p->within_months ||
	                 p->within_days || p->within_hours;
	int64_t cutoff = use_within ? within_cutoff(p, order[0].time) : 0;

	for (size_t k = 0; k < n; k++) {
		tier_forget_item *it = &items[order[k].i];
		time_t t = (time_t)it->time;
		struct tm tm;
		unsigned int why = 0;
		localtime_r(&t, &tm);
		for (size_t i = 0; i < p->nkeep_tags; i++)
			if (has_tags(it, p->keep_tags[i]))
				why |= TIER_KEEP_TAG;
		for (int r = 0; r < NRULES; r++) {
			if (left[r] == 0)
				continue;
			long b = bucket(r, &tm, k);
			if (b == last[r])
				continue;
			last[r] = b;
			if (left[r] > 0)
				left[r]--;
			why |= TIER_KEEP_LAST << r;
		}
		if (use_within && it->time > cutoff)
			why |= TIER_KEEP_WITHIN;
		if (k == 0)
			why |= TIER_KEEP_NEWEST;
		if (it->archived)
			why |= TIER_KEEP_ARCHIVED;
		it->reasons = why;
		kept += why != 0;
	}
	free(order);
	return kept;
}

const char *tier_forget_reasons_text(unsigned int reasons, char *buf,
                                     size_t cap)
{
	static const char *const words[] = {
	        "last",   "hourly", "daily", "weekly", "monthly",
	        "yearly", "within", "tag",   "newest", "archived"};
	size_t len = 0;
	if (cap == 0)
		return buf;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (!(reasons & (1u << i)))
			continue;
		int w = snprintf(buf + len, cap - len, "%s%s", len ? ", " : "",
		                 words[i]);
		if (w < 0 || (size_t)w >= cap - len)
			break;
		len += (size_t)w;
	}
	return buf;
}
