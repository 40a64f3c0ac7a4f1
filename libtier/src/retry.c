#include "retry.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "util/error.h"

#define MSG_MAX 1024

unsigned int tier_retry_attempts(const tier_retry_policy *p)
{
	return p->retries ? p->retries : 1;
}

/* splitmix64: any state is valid (0 included), good enough for jitter. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t *thread_rng(void)
{
	static _Thread_local uint64_t state;
	static _Thread_local int seeded;
	if (!seeded) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		/* the address tells threads apart when started in the same ns */
		state = ((uint64_t)ts.tv_sec * 1000000000ull +
		         (uint64_t)ts.tv_nsec) ^
		        (uint64_t)(uintptr_t)&state;
		seeded = 1;
	}
	return &state;
}

unsigned int tier_retry_delay(const tier_retry_policy *p, unsigned int attempt,
                              uint64_t *rng_state)
{
	uint64_t cap, d, lo;

	if (p->base == 0)
		return 0;
	cap = p->cap ? p->cap : p->base;
	/* base < 2^32, so base << 31 < 2^63: shifting further is never needed
	 * because cap < 2^32 too */
	if (attempt >= 32)
		d = cap;
	else {
		d = (uint64_t)p->base << attempt;
		if (d > cap)
			d = cap;
	}
	lo = d - d / 2; /* ceil(d/2): never 0 for d >= 1 */
	if (!rng_state)
		rng_state = thread_rng();
	return (unsigned int)(lo + next_random(rng_state) % (d - lo + 1));
}

int tier_retry_nanosleep(unsigned int ms, void *payload)
{
	struct timespec ts, rem;
	(void)payload;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &rem) < 0 && errno == EINTR)
		ts = rem;
	return 0;
}

static void trace(const tier_retry_hooks *h, const char *fmt, ...)
        TIER_PRINTF(2, 3);

static void trace(const tier_retry_hooks *h, const char *fmt, ...)
{
	char line[MSG_MAX + 256];
	va_list ap;
	if (!h->trace)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	h->trace(line, h->payload);
}

int tier_retry_run_ex(const tier_retry_policy *p, int (*op)(void *arg),
                      void *arg, const tier_retry_hooks *hooks,
                      unsigned int *attempts_made)
{
	static const tier_retry_hooks none;
	unsigned int n = tier_retry_attempts(p), i;
	const char *what;
	char last[MSG_MAX];
	int rc;

	if (!hooks)
		hooks = &none;
	what = hooks->what ? hooks->what : "operation";

	const char *sep = hooks->op ? ": " : "";
	const char *opname = hooks->op ? hooks->op : "";
	for (i = 1;; i++) {
		rc = op(arg);
		if (rc != TIER_EOFFLINE)
			break;
		/* hooks may call into the library and overwrite the message */
		snprintf(last, sizeof(last), "%s", tier_error_last());
		if (i >= n) {
			trace(hooks,
			      "%s: attempt %u/%u failed, giving up (%s%s%s: %s)",
			      what, i, n, opname, sep, tier_error_name(rc),
			      last);
			tier_error_set(TIER_EOFFLINE, "%s", last);
			break;
		}
		unsigned int d = tier_retry_delay(p, i - 1, hooks->rng);
		char next[32];
		if (d < 1000)
			snprintf(next, sizeof(next), "%u ms", d);
		else
			snprintf(next, sizeof(next), "%.1f s", d / 1000.0);
		trace(hooks, "%s: attempt %u/%u, next in %s (%s%s%s: %s)", what,
		      i, n, next, opname, sep, tier_error_name(rc), last);
		int stop = hooks->sleep ? hooks->sleep(d, hooks->payload)
		                        : tier_retry_nanosleep(d, NULL);
		if (stop) {
			rc = tier_error_set(
			        TIER_EABORTED,
			        "%s%s%s cancelled while waiting to retry "
			        "(attempt %u/%u failed: %s)",
			        what, sep, opname, i, n, last);
			break;
		}
	}
	if (attempts_made)
		*attempts_made = i;
	return rc;
}

int tier_retry_run(const tier_retry_policy *p, int (*op)(void *arg), void *arg,
                   tier_sleep_cb sleep, tier_trace_cb trace_cb, void *payload,
                   unsigned int *attempts_made)
{
	tier_retry_hooks h = {sleep, trace_cb, payload, NULL, NULL, NULL};
	unsigned int made = 0;
	int rc = tier_retry_run_ex(p, op, arg, &h, &made);
	if (attempts_made)
		*attempts_made = made;
	if (rc == TIER_EOFFLINE)
		tier_error_prefix("gave up after %u attempt%s", made,
		                  made == 1 ? "" : "s");
	return rc;
}
