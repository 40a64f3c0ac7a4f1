/*
 * A bandwidth cap for drivers that move the bytes themselves (file://):
 * after each block, sleep until the transfer has taken at least
 * bytes / rate seconds since it started.  Per transfer, as libcurl's
 * CURLOPT_MAX_SEND_SPEED_LARGE is for the remote drivers.
 */
#ifndef TIER_UTIL_PACE_H
#define TIER_UTIL_PACE_H

#include <stdint.h>

typedef struct {
	uint64_t rate; /* bytes per second; 0: no cap */
	int64_t start_ns;
	uint64_t bytes;
} tier_pace;

/** Start a transfer capped at rate bytes/s (0: none). */
void tier_pace_start(tier_pace *p, uint64_t rate);

/** n more bytes moved: sleep as long as the cap asks. */
void tier_pace_add(tier_pace *p, uint64_t n);

#endif
