/* The bandwidth cap of the drivers that copy bytes themselves (pace.h). */
#include "util/pace.h"

#include <errno.h>
#include <time.h>

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void tier_pace_start(tier_pace *p, uint64_t rate)
{
	p->rate = rate;
	p->bytes = 0;
	p->start_ns = rate ? now_ns() : 0;
}

void tier_pace_add(tier_pace *p, uint64_t n)
{
	if (!p->rate)
		return;
	p->bytes += n;
	/* when the bytes so far may be done at the earliest */
	long double due = (long double)p->bytes * 1e9L / (long double)p->rate;
	int64_t wait = p->start_ns + (int64_t)due - now_ns();
	if (wait <= 0)
		return;
	struct timespec ts = {(time_t)(wait / 1000000000),
	                      (long)(wait % 1000000000)};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}
