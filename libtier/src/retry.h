/*
 * Retry policy: exponential back-off with jitter (SPEC R1).
 *
 * Internal, shared by the reconnect layer of tier_location (location.c)
 * and by whoever probes offline tiers (sync, write waiting for a tier).
 *
 * Only TIER_EOFFLINE is retried: it is the one code a driver uses for
 * "did not answer, may answer later".  Every other code is permanent and
 * returned at once.
 */
#ifndef TIER_RETRY_H
#define TIER_RETRY_H

#include <stdint.h>

#include "tier/location.h"

typedef struct {
	unsigned int retries; /**< attempts in all (not re-tries); 0 means 1 */
	unsigned int base;    /**< first back-off in ms; 0 = no waiting */
	unsigned int cap; /**< longest back-off in ms; 0 = no growth (base) */
} tier_retry_policy;

/** SPEC R1 defaults: 10 attempts, 200 ms base, capped at 30 s. */
#define TIER_RETRY_POLICY_INIT \
	{                      \
		10, 200, 30000 \
	}

/** Effective number of attempts of a policy (at least 1). */
unsigned int tier_retry_attempts(const tier_retry_policy *p);

/**
 * Back-off in ms to wait after failed attempt number `attempt` (0-based:
 * 0 is the wait after the first failure).  The nominal delay is
 * min(cap, base * 2^attempt), computed without overflow for any attempt;
 * the result is drawn uniformly from [ceil(d/2), d], so it is never above
 * the cap and never 0 when base > 0.  With cap == 0 the delay stays at
 * base.  rng_state is advanced (any value, 0 included, is a valid state);
 * NULL uses a thread-local state seeded from the clock.
 */
unsigned int tier_retry_delay(const tier_retry_policy *p, unsigned int attempt,
                              uint64_t *rng_state);

/** Optional hooks of tier_retry_run_ex(); a zeroed struct is valid. */
typedef struct {
	tier_sleep_cb sleep; /**< NULL = nanosleep; non-zero return cancels */
	tier_trace_cb trace; /**< NULL = silent; one line per failed attempt */
	void *payload;       /**< passed to sleep and trace */
	/** Names what is retried in trace lines, e.g. "tier 'usb'". */
	const char *what;
	uint64_t *rng; /**< jitter state; NULL = thread-local */
	/** The operation, e.g. "put 'a/b'" (NULL: none). */
	const char *op;
} tier_retry_hooks;

/**
 * Call op(arg) until it returns anything but TIER_EOFFLINE, or attempts
 * run out, sleeping the back-off between attempts.
 *
 * Returns op's result (0 or a permanent code, message as op left it), or
 * TIER_EOFFLINE once every attempt failed, with the message of the last
 * failure untouched so that the caller can name the thing, or
 * TIER_EABORTED if the sleep hook returned non-zero.  *attempts_made (may
 * be NULL) receives how many times op was called.
 *
 * Trace lines, one per failed attempt, the headline first so that a
 * terminal that shows one updating line (cut to its width) shows it:
 *	"<what>: attempt 3/10, next in 1.6 s (<op>: offline: <msg>)"
 *	"<what>: attempt 10/10 failed, giving up (<op>: offline: <msg>)"
 * The delay reads "400 ms" below a second.
 */
int tier_retry_run_ex(const tier_retry_policy *p, int (*op)(void *arg),
                      void *arg, const tier_retry_hooks *hooks,
                      unsigned int *attempts_made);

/**
 * The same without a label or rng; on exhaustion the message becomes
 * "gave up after N attempts: <last msg>".
 */
int tier_retry_run(const tier_retry_policy *p, int (*op)(void *arg), void *arg,
                   tier_sleep_cb sleep, tier_trace_cb trace, void *payload,
                   unsigned int *attempts_made);

/** The default sleep hook: nanosleep(ms), resumed after signals; returns 0. */
int tier_retry_nanosleep(unsigned int ms, void *payload);

#endif
