/*
 * The tiers probed at once, and a tier that does not answer retried in the
 * background while a write goes on (vault_reach.c, docs/retry.md): budgets
 * overlap instead of adding up; the write does not wait for them, its
 * commit does; a tier back meanwhile is unsynchronised; a blip within the
 * grace is no outage; freeing the vault cuts a back-off short.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"
#include "retry.h"
#include "tier/location.h"
#include "tier/vault.h"
#include "util/posix.h"
#include "write.h"

static const char *dir;
static char tiers[3][4200], ctl[3][4200], state[4200];

static void setup(void)
{
	dir = tt_tmpdir();
	cr_assert_not_null(dir);
	/* a: a local directory; b, c: behind a fault+ wrapper each */
	snprintf(tiers[0], sizeof(tiers[0]), "a=file://%s/a", dir);
	for (int i = 1; i < 3; i++) {
		snprintf(ctl[i], sizeof(ctl[i]), "%s/ctl%d", dir, i);
		snprintf(tiers[i], sizeof(tiers[i]),
		         "%c=fault+file://%s/%c?fault=%s", 'a' + i, dir,
		         'a' + i, ctl[i]);
	}
	snprintf(state, sizeof(state), "%s/state", dir);
}

static void teardown(void)
{
	tt_rmrf(dir);
}

TestSuite(reach, .init = setup, .fini = teardown);

static tier_vault_options opts(size_t ntiers, unsigned retries, unsigned delay)
{
	static const char *list[3];
	for (int i = 0; i < 3; i++)
		list[i] = tiers[i];
	tier_vault_options o = TIER_VAULT_OPTIONS_INIT;
	o.state_dir = state;
	o.tiers = list;
	o.ntiers = ntiers;
	o.encryption = "none";
	o.wait_timeout_ms = 0;
	o.location.retries = retries;
	o.location.retry_delay = delay;
	return o;
}

/* A vault on the first ntiers tiers, all of them answering. */
static void make_vault(size_t ntiers)
{
	tier_vault *v = NULL;
	tier_vault_options o = opts(ntiers, 2, 1);
	int rc = tier_vault_init(&v, &o);
	cr_assert_eq(rc, 0, "init: %s", tier_error_last());
	tier_vault_free(v);
}

static void set_fault(int i, const char *text)
{
	cr_assert_eq(tt_write_file(ctl[i], text, strlen(text)), 0);
}

static tier_vault *open_vault(size_t ntiers, unsigned retries, unsigned delay,
                              int intend_write)
{
	tier_vault *v = NULL;
	tier_vault_options o = opts(ntiers, retries, delay);
	o.intend_write = intend_write;
	int rc = tier_vault_open(&v, &o);
	cr_assert_eq(rc, 0, "open: %s", tier_error_last());
	return v;
}

static const tier_write_tier *result_of(const tier_write_result *r,
                                        const char *name)
{
	for (size_t i = 0; i < r->ntiers; i++)
		if (!strcmp(r->tiers[i].name, name))
			return &r->tiers[i];
	cr_assert_fail("no tier '%s' in the result", name);
	return NULL;
}

/* The back-off each tier slept, from the trace lines (ms; b and c). */
static long slept[3];

static void sum_backoff(const char *line, void *payload)
{
	const char *p = strstr(line, "next in ");
	double d;
	char unit[4] = "";
	(void)payload;
	if (!p || line[6] < 'a' || line[6] > 'c' ||
	    sscanf(p + 8, "%lf %3s", &d, unit) != 2)
		return;
	slept[line[6] - 'a'] += (long)(strcmp(unit, "ms") ? d * 1000 : d);
}

/* 5 attempts from 100 ms: each budget is 750 to 1500 ms. */
Test(reach, offline_tiers_cost_one_budget_not_two)
{
	make_vault(3);
	set_fault(1, "offline\n");
	set_fault(2, "offline\n");
	tier_vault *v = NULL;
	tier_vault_options o = opts(3, 5, 100);
	o.location.trace = sum_backoff;
	int64_t t0 = tier_now_ms();
	int rc = tier_vault_open(&v, &o);
	int64_t ms = tier_now_ms() - t0;
	cr_assert_eq(rc, 0, "open: %s", tier_error_last());
	long most = slept[1] > slept[2] ? slept[1] : slept[2];
	cr_expect_gt(slept[1], 0);
	cr_expect_gt(slept[2], 0);
	cr_expect_geq(ms, most - 50, "%lld ms, budgets %ld and %ld ms",
	              (long long)ms, slept[1], slept[2]);
	/* one after the other, it would take their sum */
	cr_expect_lt(ms, most + 300, "%lld ms, budgets %ld and %ld ms",
	             (long long)ms, slept[1], slept[2]);
	cr_expect_eq(tier_vault_tier_info(v, 0)->state, TIER_STATE_OK);
	for (size_t i = 1; i < 3; i++) {
		const tier_info *in = tier_vault_tier_info(v, i);
		cr_expect_eq(in->state, TIER_STATE_OFFLINE);
		cr_expect(tier_location_is_offline(tier_vault_location(v, i)));
	}
	tier_vault_free(v);
}

/* 7 attempts from 100 ms: a budget of 3.15 to 6.3 s, a grace of 300 ms. */
Test(reach, write_goes_on_while_the_tier_is_retried)
{
	make_vault(2);
	set_fault(1, "offline\n");
	int64_t t0 = tier_now_ms();
	tier_vault *v = open_vault(2, 7, 100, 1);
	int64_t open_ms = tier_now_ms() - t0;
	cr_expect_lt(open_ms, 1500, "the open waited %lld ms",
	             (long long)open_ms);
	const tier_info *in = tier_vault_tier_info(v, 1);
	cr_expect_eq(in->state, TIER_STATE_OFFLINE);
	cr_expect_not_null(strstr(in->problem ? in->problem : "",
	                          "retried in the background"),
	                   "problem: %s", in->problem);

	tier_write_result *r = NULL;
	int rc = tier_vault_mark(&r, v, "overlap");
	int64_t ms = tier_now_ms() - t0;
	cr_assert_eq(rc, 0, "mark: %s", tier_error_last());
	cr_expect_eq(result_of(r, "a")->outcome, TIER_WRITE_WRITTEN);
	cr_expect_eq(result_of(r, "b")->outcome, TIER_WRITE_SKIPPED_OFFLINE);
	cr_expect_not_null(strstr(result_of(r, "b")->error, "offline"), "%s",
	                   result_of(r, "b")->error);
	/* the commit waited for the retries to end */
	cr_expect_geq(ms, 3000, "the write ended after %lld ms", (long long)ms);
	cr_expect(tier_location_is_offline(tier_vault_location(v, 1)));
	tier_write_result_free(r);
	tier_vault_free(v);
}

Test(reach, tier_back_during_the_write_is_unsynchronised)
{
	make_vault(2);
	set_fault(1, "offline\n");
	tier_vault *v = open_vault(2, 7, 100, 1);
	tier_write *w = NULL;
	int rc = tier_write_begin(&w, v, "mark");
	cr_assert_eq(rc, 0, "begin: %s", tier_error_last());
	cr_expect_eq(tier_vault_tier_info(v, 1)->state, TIER_STATE_OFFLINE);
	cr_expect_eq(tier_write_target_count(w), 1);
	/* back while the write goes on: the next retry finds it */
	set_fault(1, "");
	tier_retry_nanosleep(1700, NULL);
	tier_write_result *r = NULL;
	rc = tier_write_commit(w, NULL, "mark: back", NULL, &r);
	cr_assert_eq(rc, 0, "commit: %s", tier_error_last());
	tier_write_free(w);
	const tier_write_tier *b = result_of(r, "b");
	cr_expect_eq(b->outcome, TIER_WRITE_SKIPPED_UNSYNCHRONIZED, "%s: %s",
	             tier_write_outcome_name(b->outcome), b->error);
	cr_expect_not_null(strstr(b->error, "answered again during the write"),
	                   "%s", b->error);
	const tier_info *in = tier_vault_tier_info(v, 1);
	cr_expect(in->online);
	cr_expect_not(in->synchronized);
	cr_expect_eq(in->revision + 1, tier_vault_max_revision(v));
	tier_write_result_free(r);
	tier_vault_free(v);
}

/* Tier b fails its first calls as fault says: still written by a mark. */
static void expect_blip_written(const char *fault)
{
	make_vault(2);
	set_fault(1, fault);
	tier_vault *v = open_vault(2, 3, 1, 1);
	tier_write_result *r = NULL;
	int rc = tier_vault_mark(&r, v, "blip");
	cr_assert_eq(rc, 0, "mark: %s", tier_error_last());
	cr_expect_eq(result_of(r, "b")->outcome, TIER_WRITE_WRITTEN, "%s: %s",
	             tier_write_outcome_name(result_of(r, "b")->outcome),
	             result_of(r, "b")->error);
	tier_write_result_free(r);
	tier_vault_free(v);
}

/* Two failed calls of 1 ms back-off: within the grace, still a target. */
Test(reach, blip_within_the_grace_is_no_outage)
{
	expect_blip_written("fail any 1-2\n");
}

/*
 * The same blip on a server slow to answer (a retry's new login): the two
 * failed calls and the third that answers take 750 ms, far more than the
 * back-offs; the write still waits for the third attempt.
 */
Test(reach, blip_on_a_slow_server_is_no_outage)
{
	expect_blip_written("fail any 1-2\ndelay 250\n");
}

/* Borrowing the location waits for the retries; freeing cuts them short. */
Test(reach, location_waits_free_cancels)
{
	make_vault(2);
	set_fault(1, "offline\n");
	tier_vault *v = open_vault(2, 5, 100, 1);
	int64_t t0 = tier_now_ms();
	tier_location *loc = tier_vault_location(v, 1);
	int64_t ms = tier_now_ms() - t0;
	cr_expect(tier_location_is_offline(loc));
	cr_expect_geq(ms, 300, "tier_vault_location waited %lld ms",
	              (long long)ms);
	tier_vault_free(v);

	/* 10 attempts from 400 ms: a budget of a minute (a grace of 1.2 s) */
	v = open_vault(2, 10, 400, 1);
	cr_expect_eq(tier_vault_tier_info(v, 1)->state, TIER_STATE_OFFLINE);
	t0 = tier_now_ms();
	tier_vault_free(v);
	ms = tier_now_ms() - t0;
	cr_expect_lt(ms, 500, "tier_vault_free took %lld ms", (long long)ms);
}
