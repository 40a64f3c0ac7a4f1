/*
 * The tiers' head reads, at once (R1 beside R3).  A probe asks every tier
 * for its head in a thread of its own, so that the probe takes as long as
 * the slowest tier, not their sum.  A write's probe goes further: a tier
 * whose first attempt did not answer stays in its thread, retried by the
 * location layer with its whole R1 budget, while the write goes on with
 * the tiers that answered; the write's commit waits for it (docs/retry.md).
 *
 * How we know a first attempt failed: the location layer sleeps between
 * attempts through the sleep hook of its options, and every tier's
 * location is opened with ours (tier_reach_attach).  In a reach thread it
 * says "back-off" and sleeps on a condition, so that the vault can end the
 * wait at once; anywhere else (puts, clones in restore threads) it is the
 * caller's hook unchanged.
 *
 * While a read runs, its thread alone uses the tier's location: the probe
 * leaves the tier out (offline for now), tier_vault_location() and
 * tier_vault_probe() settle it first, and the write never targets it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "retry.h"
#include "util/error.h"
#include "util/posix.h"
#include "vault_int.h"

#define REACH_MSG_MAX 1024
/*
 * A write waits for a tier that failed once until GRACE_ATTEMPTS of its
 * attempts failed, or its grace ran out: at least GRACE_MIN_MS, so that a
 * retry's new login (0.4 s on ProFTPD) ends within it.
 */
#define GRACE_ATTEMPTS 3
#define GRACE_MIN_MS   1500

struct tier_reach {
	tier_vault *v; /* v->reach_mu guards what follows the hooks */
	/* the caller's hooks, called from ours */
	tier_sleep_cb sleep;
	tier_trace_cb trace;
	void *payload;
	int64_t grace_ms; /* how long a write waits once the first attempt failed */
	tier_location *loc;
	pthread_t th;
	int joinable;      /* th runs or ended, not joined yet */
	int backoff;       /* the first attempt failed: the read is retried */
	int failures;      /* attempts failed so far */
	int64_t failed_at; /* then (tier_now_ms) */
	int ended;         /* the read returned: rc, head, msg */
	int cancel;        /* the vault goes: every back-off ends now */
	int rc;
	git_oid head;
	int has_head;
	char msg[REACH_MSG_MAX];
	char first[REACH_MSG_MAX]; /* why the first attempt failed */
};

/* The read this thread is doing, NULL in every other thread. */
static _Thread_local struct tier_reach *reach_self;

/* Trace lines of several threads, one at a time. */
static pthread_mutex_t trace_mu = PTHREAD_MUTEX_INITIALIZER;

static void reach_trace(const char *line, void *payload)
{
	struct tier_reach *r = payload;
	pthread_mutex_lock(&trace_mu);
	r->trace(line, r->payload);
	pthread_mutex_unlock(&trace_mu);
}

/* The monotonic time ms from now, for pthread_cond_timedwait. */
static void deadline(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Wait ms on the vault's condition, unless cancelled; returns cancel. */
static int backoff_wait(struct tier_reach *r, unsigned int ms)
{
	struct timespec until;
	deadline(&until, ms);
	while (!r->cancel &&
	       pthread_cond_timedwait(&r->v->reach_cv, &r->v->reach_mu,
	                              &until) != ETIMEDOUT)
		;
	return r->cancel;
}

static int reach_sleep(unsigned int ms, void *payload)
{
	struct tier_reach *r = payload;
	int stop;
	if (reach_self != r)
		return r->sleep ? r->sleep(ms, r->payload)
		                : tier_retry_nanosleep(ms, NULL);
	pthread_mutex_lock(&r->v->reach_mu);
	if (!r->backoff) {
		/* retry.c keeps the attempt's message for us to read */
		snprintf(r->first, sizeof(r->first), "%s", tier_error_last());
		r->backoff = 1;
		r->failed_at = tier_now_ms();
	}
	if (++r->failures == 1 || r->failures == GRACE_ATTEMPTS)
		pthread_cond_broadcast(&r->v->reach_cv);
	if (r->cancel) {
		stop = 1;
	} else if (r->sleep) {
		pthread_mutex_unlock(&r->v->reach_mu);
		stop = r->sleep(ms, r->payload);
		pthread_mutex_lock(&r->v->reach_mu);
		stop = stop || r->cancel;
	} else {
		stop = backoff_wait(r, ms);
	}
	pthread_mutex_unlock(&r->v->reach_mu);
	return stop;
}

/*
 * The shortest reconnect budget of policy p: every back-off at the low end
 * of its jitter, ceil(d/2) (retry.h).
 */
static uint64_t budget_min_ms(const tier_retry_policy *p)
{
	uint64_t sum = 0, d = p->base;
	unsigned int n = tier_retry_attempts(p);
	for (unsigned int i = 0; i + 1 < n; i++) {
		sum += (d + 1) / 2;
		if (p->cap && d < p->cap)
			d = d * 2 < p->cap ? d * 2 : p->cap;
	}
	return sum;
}

/*
 * How long a write waits at most for a tier whose first attempt failed,
 * unless GRACE_ATTEMPTS of its attempts failed before: its quick retries
 * (3 x base: the first two back-offs), never more than a tenth of its
 * shortest budget (so that a push with the tier away takes at most a tenth
 * longer than the larger of the push and the budget), and at least
 * GRACE_MIN_MS, so that a blip is not an outage on a server that is slow
 * to log in.  A server that refuses at once has failed its attempts long
 * before: the grace costs it the first two back-offs.
 */
static int64_t grace_ms(const tier_location_options *lo)
{
	tier_retry_policy p = {lo->retries, lo->retry_delay, lo->retry_cap};
	uint64_t g = (uint64_t)p.base * 3, tenth = budget_min_ms(&p) / 10;
	if (g > tenth)
		g = tenth;
	return g < GRACE_MIN_MS ? GRACE_MIN_MS : (int64_t)g;
}

int tier_reach_attach(tier_vault *v, struct vtier *t, tier_location_options *lo)
{
	struct tier_reach *r = tier_calloc(1, sizeof(*r));
	if (!r)
		return TIER_ERROR;
	r->v = v;
	r->sleep = lo->sleep;
	r->trace = lo->trace;
	r->payload = lo->payload;
	r->grace_ms = grace_ms(lo);
	lo->sleep = reach_sleep;
	lo->trace = r->trace ? reach_trace : NULL;
	lo->payload = r;
	t->reach = r;
	return 0;
}

/* The read itself, in whichever thread runs it. */
static void reach_run(struct tier_reach *r)
{
	git_oid head;
	int has_head = 0, rc;
	reach_self = r;
	memset(&head, 0, sizeof(head));
	rc = tier_log_head_read(r->loc, &head, &has_head);
	reach_self = NULL;
	pthread_mutex_lock(&r->v->reach_mu);
	r->rc = rc;
	git_oid_cpy(&r->head, &head);
	r->has_head = has_head;
	snprintf(r->msg, sizeof(r->msg), "%s", rc < 0 ? tier_error_last() : "");
	r->ended = 1;
	pthread_cond_broadcast(&r->v->reach_cv);
	pthread_mutex_unlock(&r->v->reach_mu);
}

static void *reach_thread(void *arg)
{
	reach_run(arg);
	return NULL;
}

/* Join r's thread if it has one (the caller waited for it to end). */
static void reach_join(struct tier_reach *r)
{
	if (r->joinable) {
		pthread_join(r->th, NULL);
		r->joinable = 0;
	}
}

void tier_reach_settle(tier_vault *v, struct vtier *t)
{
	struct tier_reach *r = t->reach;
	if (!r || !r->joinable)
		return;
	pthread_mutex_lock(&v->reach_mu);
	while (!r->ended)
		pthread_cond_wait(&v->reach_cv, &v->reach_mu);
	pthread_mutex_unlock(&v->reach_mu);
	reach_join(r);
}

void tier_reach_detach(tier_vault *v, struct vtier *t)
{
	struct tier_reach *r = t->reach;
	if (!r)
		return;
	if (r->joinable) {
		pthread_mutex_lock(&v->reach_mu);
		r->cancel = 1;
		pthread_cond_broadcast(&v->reach_cv);
		pthread_mutex_unlock(&v->reach_mu);
		reach_join(r);
	}
	free(r);
	t->reach = NULL;
}

int tier_reach_pending(tier_vault *v, const struct vtier *t)
{
	(void)v;
	return t->reach && t->reach->joinable;
}

int tier_reach_ended(tier_vault *v, const struct vtier *t)
{
	int ended;
	pthread_mutex_lock(&v->reach_mu);
	ended = t->reach && t->reach->ended;
	pthread_mutex_unlock(&v->reach_mu);
	return ended;
}

void tier_reach_why(tier_vault *v, const struct vtier *t, tier_buf *out)
{
	pthread_mutex_lock(&v->reach_mu);
	tier_buf_sets(out, t->reach ? t->reach->first : "");
	pthread_mutex_unlock(&v->reach_mu);
}

/*
 * Under reach_mu: may the probe go on?  Without defer when every read
 * ended; with it when each ended, failed GRACE_ATTEMPTS attempts, or
 * failed its first attempt more than its grace ago, and one answered (anything but TIER_EOFFLINE) or none is
 * left running.  *until: when a grace ends (0: none to wait for).
 */
static int reach_settled(tier_vault *v, const unsigned char *ask, int defer,
                         int64_t *until)
{
	int answered = 0, running = 0, wait = 0;
	int64_t now = tier_now_ms();
	*until = 0;
	for (size_t i = 0; i < v->n; i++) {
		const struct tier_reach *r = v->t[i].reach;
		if (!ask[i])
			continue;
		if (r->ended) {
			answered |= r->rc != TIER_EOFFLINE;
			continue;
		}
		if (!defer || !r->backoff)
			return 0;
		running = 1;
		if (r->failures < GRACE_ATTEMPTS &&
		    now < r->failed_at + r->grace_ms) {
			wait = 1;
			if (!*until || r->failed_at + r->grace_ms < *until)
				*until = r->failed_at + r->grace_ms;
		}
	}
	return !wait && (!running || answered);
}

/* Under reach_mu: wait for a change, or until (tier_now_ms) when set. */
static void reach_wait(tier_vault *v, int64_t until)
{
	struct timespec ts;
	if (!until) {
		pthread_cond_wait(&v->reach_cv, &v->reach_mu);
		return;
	}
	int64_t left = until - tier_now_ms();
	if (left <= 0)
		return;
	deadline(&ts, left);
	pthread_cond_timedwait(&v->reach_cv, &v->reach_mu, &ts);
}

/* Start r's read in a thread; in this one when no thread can start. */
static void reach_start(struct tier_reach *r, tier_location *loc)
{
	r->loc = loc;
	r->backoff = r->failures = r->ended = r->cancel = 0;
	r->first[0] = r->msg[0] = '\0';
	if (pthread_create(&r->th, NULL, reach_thread, r) == 0)
		r->joinable = 1;
	else
		reach_run(r);
}

void tier_reach_heads(tier_vault *v, const unsigned char *ask, int defer)
{
	for (size_t i = 0; i < v->n; i++)
		if (ask[i])
			reach_start(v->t[i].reach, v->t[i].loc);
	int64_t until;
	pthread_mutex_lock(&v->reach_mu);
	while (!reach_settled(v, ask, defer, &until))
		reach_wait(v, until);
	pthread_mutex_unlock(&v->reach_mu);
	for (size_t i = 0; i < v->n; i++) {
		struct vtier *t = &v->t[i];
		struct tier_reach *r = t->reach;
		if (!ask[i] || !tier_reach_ended(v, t))
			continue; /* in back-off: retried in the background */
		reach_join(r);
		t->has_head = r->has_head;
		if (r->has_head)
			git_oid_cpy(&t->head, &r->head);
	}
}

void tier_reach_result(tier_vault *v, const struct vtier *t, int *rc,
                       tier_buf *msg)
{
	pthread_mutex_lock(&v->reach_mu);
	*rc = t->reach->rc;
	tier_buf_sets(msg, t->reach->msg);
	pthread_mutex_unlock(&v->reach_mu);
}
