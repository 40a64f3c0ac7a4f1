/*
 * The keep set of tier_forget_policy_apply() equals restic's for the same
 * times and policy (SPEC 7: restic's words with restic's meaning).  restic
 * (Debian's package, ci/install-deps.sh) makes 40 snapshots with --time
 * over five months, irregular gaps, two on some days, a year end inside;
 * `restic forget --dry-run --json` says what it keeps for each policy.
 * Skipped, saying so, where restic is not installed.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "helpers.h"
#include "tier/forget.h"

#define N 40

static int64_t g_times[N]; /* newest first */
static int g_have_restic;

/* A repository with N snapshots; their times, newest first. */
static void make_history(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	if (system("command -v restic >/dev/null 2>&1 && "
	           "command -v jq >/dev/null 2>&1") != 0)
		return;
	const char *d = tt_tmpdir();
	setenv("RESTIC_PASSWORD", "x", 1);
	setenv("RESTIC_REPOSITORY", tt_path("%s/repo", d), 1);
	setenv("RESTIC_CACHE_DIR", tt_path("%s/cache", d), 1);
	cr_assert_eq(tt_sh("restic init -q >/dev/null && mkdir -p %s/src", d),
	             0);
	int64_t t = 1758500000; /* 2025-09-22: a year end ahead, all past */
	unsigned seed = 7;
	for (int i = N - 1; i >= 0; i--) {
		g_times[i] = t;
		time_t tt = (time_t)t;
		struct tm tm;
		char when[32];
		gmtime_r(&tt, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		cr_assert_eq(tt_sh("echo %d >%s/src/f && restic backup -q "
		                   "--time '%s' %s/src >/dev/null",
		                   i, d, when, d),
		             0);
		seed = seed * 1103515245u + 12345u;
		/* 0-9 days and some hours: two on a day now and then */
		t += (int64_t)((seed >> 16) % 10) * 86400 +
		     (int64_t)((seed >> 8) % 20) * 3600 + 600;
	}
	g_have_restic = 1;
}

/* restic's keep set for ARGS as "KRR..." over g_times. */
static void restic_keeps(char *out, const char *args)
{
	const char *d = tt_tmpdir();
	cr_assert_eq(tt_sh("restic forget --dry-run --json %s | "
	                   "jq -r '.[].keep[].time' >%s/keep.txt",
	                   args, d),
	             0);
	memset(out, 'R', N);
	out[N] = '\0';
	FILE *f = fopen(tt_path("%s/keep.txt", d), "r");
	cr_assert(f);
	char line[64];
	while (fgets(line, sizeof(line), f)) {
		struct tm tm = {0};
		cr_assert(sscanf(line, "%d-%d-%dT%d:%d:%d", &tm.tm_year,
		                 &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
		                 &tm.tm_min, &tm.tm_sec) == 6,
		          "restic time '%s'", line);
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		int64_t t = (int64_t)timegm(&tm);
		int found = 0;
		for (int i = 0; i < N; i++)
			if (g_times[i] == t) {
				out[i] = 'K';
				found = 1;
			}
		cr_assert(found, "restic keeps a time not made: %s", line);
	}
	fclose(f);
}

static void ours(char *out, const tier_forget_policy *p)
{
	tier_forget_item it[N];
	memset(it, 0, sizeof(it));
	for (int i = 0; i < N; i++)
		it[i].time = g_times[i];
	cr_assert_geq(tier_forget_policy_apply(p, it, N), 1);
	for (int i = 0; i < N; i++)
		out[i] = it[i].reasons ? 'K' : 'R';
	out[N] = '\0';
}

static void same(const char *args, const tier_forget_policy *p)
{
	char want[N + 1], got[N + 1];
	restic_keeps(want, args);
	ours(got, p);
	cr_assert_str_eq(got, want, "%s: libtier %s, restic %s", args, got,
	                 want);
}

Test(forget_restic, the_keep_set_is_restics, .timeout = 240)
{
	make_history();
	if (!g_have_restic) {
		cr_log_warn("restic or jq not installed: comparison skipped");
		return;
	}
	tier_forget_policy p = {0};
	p.daily = 7;
	p.weekly = 4;
	p.monthly = 6;
	same("--keep-daily 7 --keep-weekly 4 --keep-monthly 6", &p);

	tier_forget_policy q = {0};
	q.last = 3;
	q.hourly = 5;
	q.yearly = 2;
	same("--keep-last 3 --keep-hourly 5 --keep-yearly 2", &q);

	tier_forget_policy w = {0};
	w.weekly = 10;
	cr_assert_eq(tier_forget_parse_within(&w, "1m10d"), 0);
	same("--keep-weekly 10 --keep-within 1m10d", &w);
}
